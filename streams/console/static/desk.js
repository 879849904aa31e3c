// The desk: filters shared with the map, and the work queue ordered by priority, then age (oldest first).
import { PRIORITY_COLOURS, adminLabel, categoryLetter, fmtDuration, h, parseTime } from "./util.js";

const STATUSES = ["open", "updated", "escalated", "closed"];
const WINDOWS = [
  ["all", "any time", Infinity],
  ["1h", "last hour", 3600e3],
  ["6h", "last 6 hours", 6 * 3600e3],
  ["24h", "last 24 hours", 24 * 3600e3],
];
// The queue shows at most this many rows; the rest are counted, so a flood never stalls the page.
const QUEUE_CAP = 150;

export class Filters {
  constructor(el, onChange) {
    this.el = el;
    this.onChange = onChange;
    this.categories = new Set();
    this.hiddenCategories = new Set();
    this.priorities = new Set([1, 2, 3, 4, 5]);
    this.statuses = new Set(STATUSES);
    this.window = "all";
    this.render();
  }

  // Time windows count back from the newest incident time seen, so a replay at any speed filters sensibly.
  matches(inc, now) {
    if (this.hiddenCategories.has(inc.category)) return false;
    if (!this.priorities.has(inc.priority)) return false;
    if (!this.statuses.has(inc.status)) return false;
    const w = WINDOWS.find((x) => x[0] === this.window);
    if (w && Number.isFinite(w[2]) && now - parseTime(inc.updated_time) > w[2]) return false;
    return true;
  }

  noteCategory(category) {
    if (category && !this.categories.has(category)) {
      this.categories.add(category);
      this.render();
    }
  }

  render() {
    const changed = () => this.onChange();
    const toggle = (set, value) => (e) => {
      if (e.target.checked) set.add(value);
      else set.delete(value);
      changed();
    };
    const cats = [...this.categories].sort().map((c) =>
      h(
        "label",
        { class: "chip" },
        h("input", {
          type: "checkbox",
          name: "category",
          value: c,
          checked: !this.hiddenCategories.has(c),
          onchange: (e) => {
            if (e.target.checked) this.hiddenCategories.delete(c);
            else this.hiddenCategories.add(c);
            changed();
          },
        }),
        `${categoryLetter(c)} ${c}`,
      ),
    );
    const prios = [1, 2, 3, 4, 5].map((p) =>
      h(
        "label",
        { class: "chip" },
        h("input", { type: "checkbox", name: "priority", value: p, checked: this.priorities.has(p), onchange: toggle(this.priorities, p) }),
        h("span", { class: "prio", style: `background:${PRIORITY_COLOURS[p]}` }, String(p)),
      ),
    );
    const stats = STATUSES.map((s) =>
      h(
        "label",
        { class: "chip" },
        h("input", { type: "checkbox", name: "status", value: s, checked: this.statuses.has(s), onchange: toggle(this.statuses, s) }),
        s,
      ),
    );
    const win = h(
      "select",
      {
        name: "window",
        onchange: (e) => {
          this.window = e.target.value;
          changed();
        },
      },
      WINDOWS.map(([v, label]) => h("option", { value: v, selected: v === this.window }, label)),
    );
    this.el.replaceChildren(
      h("div", { class: "frow" }, h("b", {}, "Priority"), prios),
      h("div", { class: "frow" }, h("b", {}, "Status"), stats, win),
      h("div", { class: "frow cats" }, h("b", {}, "Category"), cats),
    );
  }
}

export class Queue {
  constructor(el, countEl, onOpen) {
    this.el = el;
    this.countEl = countEl;
    this.onOpen = onOpen;
    this.selected = null;
  }

  // Work items only: closed incidents leave the queue (they stay, faded, on the map).
  render(incidents, filters, now, acks = new Map()) {
    const items = [];
    for (const inc of incidents.values()) {
      if (inc.status !== "closed" && filters.matches(inc, now)) items.push(inc);
    }
    items.sort(
      (a, b) => a.priority - b.priority || parseTime(a.first_time) - parseTime(b.first_time) || (a.id < b.id ? -1 : 1),
    );
    const frag = document.createDocumentFragment();
    for (const inc of items.slice(0, QUEUE_CAP)) frag.append(this._row(inc, now, acks.get(inc.id)));
    if (items.length > QUEUE_CAP) frag.append(h("li", { class: "more" }, `… ${items.length - QUEUE_CAP} more (narrow the filters)`));
    if (items.length === 0) frag.append(h("li", { class: "empty" }, "No open incidents in your scope"));
    this.el.replaceChildren(frag);
    this.countEl.textContent = String(items.length);
  }

  // `last` is the newest operator action seen on the stream for this incident (ack, assign, arrive).
  _row(inc, now, last) {
    const age = (now - parseTime(inc.first_time)) / 1000;
    return h(
      "li",
      {
        class: `qrow st-${inc.status}${inc.id === this.selected ? " sel" : ""}`,
        dataset: { id: inc.id, status: inc.status, version: String(inc.version), action: last ? last.action : "" },
        tabindex: "0",
        onclick: () => this.onOpen(inc.id),
        onkeydown: (e) => e.key === "Enter" && this.onOpen(inc.id),
      },
      h("span", { class: "prio", style: `background:${PRIORITY_COLOURS[inc.priority]}` }, String(inc.priority)),
      h("span", { class: "cat", title: inc.category }, categoryLetter(inc.category)),
      h(
        "span",
        { class: "qmain" },
        h("span", { class: "qtitle" }, inc.title),
        h("span", { class: "qsub" }, `${inc.admin?.district || adminLabel(inc.admin)} · ${inc.status}${last ? ` · ${last.action}${last.unit_id ? ` ${last.unit_id}` : ""}` : ""} · v${inc.version}`),
      ),
      h("span", { class: "age", title: inc.first_time }, fmtDuration(age)),
    );
  }
}
