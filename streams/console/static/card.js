// The incident card (GET /api/incidents/{id}) and its actions (POST .../actions with the CSRF header).
import {
  PRIORITY_COLOURS,
  adminLabel,
  api,
  categoryLetter,
  fmtClock,
  fmtDistance,
  fmtDuration,
  fmtTime,
  h,
} from "./util.js";

// Playbook ticks are the operator's own checklist: kept in this browser, per incident.
function tickKey(id) {
  return `saqshy.ticks.${id}`;
}
function loadTicks(id) {
  try {
    return new Set(JSON.parse(localStorage.getItem(tickKey(id)) || "[]"));
  } catch {
    return new Set();
  }
}
function saveTicks(id, ticks) {
  localStorage.setItem(tickKey(id), JSON.stringify([...ticks]));
}

function section(title, ...body) {
  return h("section", { class: "csec" }, h("h3", {}, title), ...body);
}

function dl(pairs) {
  return h(
    "dl",
    {},
    pairs.filter(([, v]) => v !== undefined && v !== null && v !== "").flatMap(([k, v]) => [h("dt", {}, k), h("dd", {}, v)]),
  );
}

export class Card {
  constructor(el, { canAct, onAction, onClose, onLayout = () => {} }) {
    this.onLayout = onLayout;
    this.el = el;
    this.canAct = canAct;
    this.onAction = onAction;
    this.onCloseCard = onClose;
    this.id = null;
    this.data = null;
    this.loading = null;
    this.message = "";
  }

  async open(id) {
    this.id = id;
    this.message = "";
    this.el.hidden = false;
    this.el.parentElement.classList.add("card-open");
    this.onLayout();
    this.el.replaceChildren(h("div", { class: "loading" }, "Loading…"));
    await this.refresh();
  }

  close() {
    this.id = null;
    this.data = null;
    this.el.hidden = true;
    this.el.parentElement.classList.remove("card-open");
    this.el.replaceChildren();
    this.onLayout();
    this.onCloseCard();
  }

  // Called when a new version or action of the open incident arrives on the stream; coalesces bursts.
  async refresh() {
    const id = this.id;
    if (!id) return;
    if (this.loading) {
      this.again = true;
      return;
    }
    this.loading = api(`/api/incidents/${encodeURIComponent(id)}`);
    try {
      const data = await this.loading;
      if (this.id === id) {
        this.data = data;
        this.render();
      }
    } catch (e) {
      if (this.id === id) this.el.replaceChildren(this._head(null), h("p", { class: "err" }, e.message));
    } finally {
      this.loading = null;
      if (this.again) {
        this.again = false;
        this.refresh();
      }
    }
  }

  _head(inc) {
    return h(
      "header",
      { class: "chead" },
      inc
        ? [
            h("span", { class: "prio big", style: `background:${PRIORITY_COLOURS[inc.priority]}` }, String(inc.priority)),
            h("span", { class: "cat big", title: inc.category }, categoryLetter(inc.category)),
            h("h2", {}, inc.title),
          ]
        : h("h2", {}, this.id),
      h("button", { class: "x", title: "Close card", "aria-label": "Close card", onclick: () => this.close() }, "×"),
    );
  }

  render() {
    const { incident: inc, evidence = [], priority_terms: terms = [], context = {}, playbook = {}, alerts = [], actions = [] } =
      this.data;
    const acked = actions.some((a) => a.action === "ack" || (a.data && a.data.action === "ack"));
    const status = h("span", { class: `status st-${inc.status}`, "data-testid": "card-status" }, inc.status);
    const ticks = loadTicks(inc.id);
    const steps = (playbook.steps && playbook.steps.length ? playbook.steps : inc.playbook || []).map((s, i) => {
      const text = typeof s === "string" ? s : s.action;
      const extra = typeof s === "object" && s.unit_type ? ` (${s.units || 1} × ${s.unit_type})` : "";
      return h(
        "li",
        {},
        h(
          "label",
          {},
          h("input", {
            type: "checkbox",
            checked: ticks.has(i),
            onchange: (e) => {
              if (e.target.checked) ticks.add(i);
              else ticks.delete(i);
              saveTicks(inc.id, ticks);
            },
          }),
          ` ${text}${extra}`,
        ),
      );
    });
    const labels = Object.entries(inc.labels || {});
    const parts = [
      this._head(inc),
      h(
        "div",
        { class: "cmeta" },
        status,
        acked ? h("span", { class: "badge ack", "data-testid": "card-ack" }, "acknowledged") : null,
        h("span", {}, ` v${inc.version} · ${inc.category} · ${inc.rule_id}`),
      ),
      inc.summary ? h("p", { class: "summary" }, inc.summary) : null,
      dl([
        ["Where", adminLabel(inc.admin)],
        ["Location", inc.location ? `${inc.location.lat.toFixed(5)}, ${inc.location.lon.toFixed(5)}` : ""],
        ["First", fmtTime(inc.first_time)],
        ["Last", fmtTime(inc.last_time)],
        ["Time to arrive", inc.time_to_arrive_s != null ? fmtDuration(inc.time_to_arrive_s) : ""],
        ["Close reason", inc.close_reason],
        ...labels.map(([k, v]) => [k, v]),
      ]),
      this.canAct() && inc.status !== "closed" ? this._actions(inc, context.units || []) : null,
      this.message ? h("p", { class: "msg", "data-testid": "card-msg" }, this.message) : null,
      section(
        "Priority",
        h(
          "ul",
          { class: "terms" },
          h("li", {}, `base ${inc.priority_base}`),
          terms.map((t) => h("li", {}, `${t.name} ${t.delta > 0 ? "+" : ""}${t.delta}`)),
          h("li", {}, h("b", {}, `= ${inc.priority}`)),
        ),
      ),
      section(
        `Evidence (${evidence.length})`,
        h(
          "ol",
          { class: "timeline" },
          evidence.map((ev) =>
            h(
              "li",
              {},
              h("time", { datetime: ev.time }, fmtClock(ev.time)),
              h("span", { class: "etype" }, ev.type),
              h("span", { class: "esrc" }, ev.source),
              h("span", { class: "esum" }, ev.summary || ""),
              // as the server sends it: clear for roles that may see phones, masked otherwise
              ev.phone ? h("span", { class: "ephone" }, `☎ ${ev.phone}`) : null,
              ev.location ? h("span", { class: "eloc" }, `${(+ev.location.lat).toFixed(4)}, ${(+ev.location.lon).toFixed(4)}`) : null,
            ),
          ),
        ),
      ),
      section(
        "Context",
        dl([
          ["Admin path", (context.admin_path || []).join(" › ")],
          [
            "History",
            (context.history || []).map((x) => `${x.by} ${x.key}: ${x.count} in ${x.window_days ?? 30} d`).join("; ") || "none",
          ],
          [
            "Cameras",
            (context.cameras || [])
              .map(
                (c) =>
                  `${c.camera_id || c.id} (${c.kind || ""}, ${c.status || ""}${c.distance_m != null ? `, ${fmtDistance(c.distance_m)}` : ""})` +
                  (c.latest ? ` latest: ${c.latest.summary} at ${fmtClock(c.latest.time)}` : ""),
              )
              .join("; ") || "none",
          ],
        ]),
        h(
          "table",
          { class: "units" },
          h("thead", {}, h("tr", {}, h("th", {}, "Unit"), h("th", {}, "Kind"), h("th", {}, "Status"), h("th", {}, "Distance"), h("th", {}, "ETA"))),
          h(
            "tbody",
            {},
            (context.units || []).map((u) =>
              h("tr", {}, h("td", {}, u.id), h("td", {}, u.kind), h("td", {}, u.status || ""), h("td", {}, fmtDistance(u.distance_m)), h("td", {}, fmtDuration(u.eta_s))),
            ),
          ),
        ),
      ),
      section(`Playbook${playbook.name ? `: ${playbook.name}` : ""}`, h("ol", { class: "steps" }, steps)),
      section(
        `Public alerts (${alerts.length})`,
        h("ul", {}, alerts.map((a) => h("li", {}, `${fmtClock(a.sent)} ${a.event || ""}: ${a.headline || a.id}`))),
      ),
      section(
        `Actions (${actions.length})`,
        h(
          "ul",
          { class: "actions-log" },
          actions.map((a) => {
            const d = a.data || a;
            return h("li", {}, `${fmtClock(a.time)} ${d.action}${d.unit_id ? ` ${d.unit_id}` : ""} by ${d.operator || "?"}${d.note ? `: ${d.note}` : ""}`);
          }),
        ),
      ),
    ];
    // replaceChildren would print a null as the text "null"
    this.el.replaceChildren(...parts.filter(Boolean));
  }

  _actions(inc, units) {
    const unitSel = h(
      "select",
      { name: "unit", "aria-label": "Unit" },
      units.length ? units.map((u) => h("option", { value: u.id }, `${u.id} · ${u.kind} · ${fmtDistance(u.distance_m)} · ETA ${fmtDuration(u.eta_s)}`)) : h("option", { value: "" }, "no unit recommended"),
    );
    const reason = h("input", { name: "reason", placeholder: "reason for closing", maxlength: "500" });
    const send = (action, extra = {}) => async (e) => {
      e.preventDefault();
      const buttons = this.el.querySelectorAll(".cactions button");
      buttons.forEach((b) => (b.disabled = true));
      try {
        await this.onAction(inc.id, { action, ...extra });
        this.message = `${action} sent; waiting for the engine`;
      } catch (err) {
        this.message = `${action} failed: ${err.message}`;
      }
      this.refresh();
    };
    return h(
      "form",
      { class: "cactions", onsubmit: (e) => e.preventDefault() },
      h("button", { type: "button", name: "ack", onclick: send("ack") }, "Acknowledge"),
      h("span", { class: "grp" }, unitSel, h("button", { type: "button", name: "assign", disabled: !units.length, onclick: (e) => send("assign", { unit_id: unitSel.value })(e) }, "Assign"),
        h("button", { type: "button", name: "arrive", disabled: !units.length, onclick: (e) => send("arrive", { unit_id: unitSel.value })(e) }, "Arrived")),
      h("span", { class: "grp" }, reason, h("button", {
        type: "button",
        name: "close",
        onclick: (e) => {
          if (!reason.value.trim()) {
            reason.focus();
            reason.setCustomValidity("a reason is required");
            reason.reportValidity();
            return;
          }
          send("close", { reason: reason.value.trim() })(e);
        },
      }, "Close")),
    );
  }
}
