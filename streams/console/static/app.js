// The console's entry point: login, the initial load, and the live stream (EventSource with Last-Event-ID).
import { Card } from "./card.js";
import { Filters, Queue } from "./desk.js";
import { SituationMap } from "./map.js";
import { ApiError, api, h, parseTime, setCsrf } from "./util.js";

const $ = (sel) => document.querySelector(sel);
const LAYERS = ["admin", "zones", "roads", "cameras", "devices"];
const WRITE_ROLES = new Set(["operator", "supervisor", "admin"]);

const state = {
  user: null,
  incidents: new Map(), // id -> latest incident doc (highest version)
  units: new Map(), // id -> latest unit fix
  acks: new Map(), // incident id -> the last dispatch.action seen for it
  seq: 0, // the last stream sequence applied; reconnects ask for everything after it
  now: 0, // newest incident time seen (ms): the desk's clock, so replays at any speed age correctly
  es: null,
  map: null,
  filters: null,
  queue: null,
  card: null,
  dirty: new Set(),
  queueDirty: false,
  frame: 0,
  offline: false,
  drops: 0, // times the server dropped this page as too slow
};
// For the browser tests and the bench: what is drawn, without reaching into canvas pixels.
window.__saqshy = {
  state,
  shownIncidentIds: () => (state.map ? state.map.shownIncidentIds() : []),
  unitCount: () => (state.map ? state.map.unitMarkers.size : 0),
  queueIds: () => [...document.querySelectorAll("#queue li.qrow")].map((li) => li.dataset.id),
};
window.__rendered = false;

let bannerTimer = 0;
// Warnings stay until the condition ends; good news goes away on its own.
function banner(text, kind = "warn") {
  const el = $("#banner");
  el.textContent = text || "";
  el.className = kind;
  el.hidden = !text;
  clearTimeout(bannerTimer);
  if (text && kind === "ok") bannerTimer = setTimeout(() => banner(""), 6000);
}

// ---- auth -----------------------------------------------------------------------------------

function showLogin(message = "") {
  $("#app").hidden = true;
  $("#login").hidden = false;
  $("#login-error").textContent = message;
  $("#login input[name=username]").focus();
}

async function onLogin(e) {
  e.preventDefault();
  const form = e.target;
  const body = { username: form.username.value.trim(), password: form.password.value };
  try {
    const me = await api("/api/login", { method: "POST", body });
    form.password.value = "";
    await start(me);
  } catch (err) {
    showLogin(err instanceof ApiError && err.status === 401 ? "Wrong user name or password" : err.message);
  }
}

// A fresh page for the next user: nothing of this session's state (map, cards, ticks in memory) carries over.
function endSession(message = "") {
  closeStream();
  if (message) sessionStorage.setItem("saqshy.message", message);
  location.reload();
}

async function onLogout() {
  try {
    await api("/api/logout", { method: "POST" });
  } catch {
    /* the session may already be gone; the login form is what the user wants either way */
  }
  endSession();
}

// ---- state updates (batched into one animation frame) -----------------------------------------

function schedule() {
  if (!state.frame) state.frame = requestAnimationFrame(flush);
}

function flush() {
  state.frame = 0;
  for (const id of state.dirty) {
    const inc = state.incidents.get(id);
    if (inc) state.map.upsertIncident(inc, state.filters.matches(inc, state.now));
    else state.map.removeIncident(id);
  }
  state.dirty.clear();
  if (state.queueDirty) {
    state.queueDirty = false;
    state.queue.render(state.incidents, state.filters, state.now, state.acks);
  }
}

function applyIncident(inc) {
  const prev = state.incidents.get(inc.id);
  if (prev && prev.version >= inc.version) return false;
  if (inc.status === "retracted") state.incidents.delete(inc.id);
  else state.incidents.set(inc.id, inc);
  const t = parseTime(inc.updated_time);
  if (t > state.now) state.now = t;
  state.filters.noteCategory(inc.category);
  state.dirty.add(inc.id);
  state.queueDirty = true;
  return true;
}

function applyUnit(unit) {
  const prev = state.units.get(unit.id);
  if (prev && prev.time && unit.time && parseTime(prev.time) > parseTime(unit.time)) return;
  state.units.set(unit.id, unit);
  state.map.upsertUnit(unit);
}

function refilter() {
  for (const id of state.incidents.keys()) state.dirty.add(id);
  state.queueDirty = true;
  schedule();
}

// ---- the live stream --------------------------------------------------------------------------

function noteSeq(e) {
  const n = Number(e.lastEventId);
  if (Number.isFinite(n) && n > state.seq) state.seq = n;
}

function onStreamEvent(kind, e) {
  noteSeq(e);
  let data;
  try {
    data = JSON.parse(e.data);
  } catch {
    return;
  }
  if (kind === "incident") {
    if (applyIncident(data) && state.card.id === data.id) state.card.refresh();
  } else if (kind === "unit") {
    applyUnit(data);
  } else if (kind === "action") {
    const a = data.data || data;
    if (a.incident_id) {
      state.acks.set(a.incident_id, a);
      state.queueDirty = true;
      if (state.card.id === a.incident_id) state.card.refresh();
    }
  } else if (kind === "alert") {
    const iid = data.incident_id;
    if (iid && state.card.id === iid) state.card.refresh();
  }
  schedule();
}

function openStream() {
  closeStream();
  // The browser resends Last-Event-ID on its own reconnects; `since` covers a stream this page reopens itself.
  const es = new EventSource(`/api/stream?since=${state.seq}`);
  state.es = es;
  for (const kind of ["incident", "unit", "alert", "action"]) es.addEventListener(kind, (e) => onStreamEvent(kind, e));
  es.addEventListener("dropped", (e) => {
    let reason = "";
    try {
      reason = JSON.parse(e.data).reason || "";
    } catch {
      /* keep the banner generic */
    }
    // A dropped client may have missed more than the server keeps: reload everything, then go live again.
    state.drops += 1;
    banner(`The server dropped this live view${reason ? ` (${reason})` : ""}; reloading everything…`);
    closeStream();
    resync()
      .then(() => banner("Live view restored after a drop; nothing was missed", "ok"))
      .catch(() => setTimeout(recover, 2000));
  });
  es.onopen = () => {
    $("#live").className = "on";
    $("#live").textContent = "live";
    if ($("#banner").className === "warn" && !$("#banner").textContent.startsWith("The server dropped")) banner("");
  };
  es.onerror = () => {
    $("#live").className = "off";
    $("#live").textContent = "offline";
    if (es.readyState === EventSource.CLOSED && state.es === es) {
      // The server refused the stream (session expired, or gone): check the session, then resync.
      banner("Live view lost; reconnecting…");
      closeStream();
      setTimeout(() => recover(), 2000);
    } else if (!state.offline) {
      banner("Live view interrupted; reconnecting…");
    }
  };
}

function closeStream() {
  if (state.es) {
    state.es.close();
    state.es = null;
  }
}

async function recover() {
  try {
    await api("/api/me");
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) return endSession("Your session has ended; please log in again");
    return setTimeout(recover, 3000);
  }
  try {
    await resync();
  } catch {
    setTimeout(recover, 3000);
  }
}

// A full reload: the latest version of everything visible, then the stream from the older of the two seqs.
async function resync() {
  const [inc, units] = await Promise.all([api("/api/incidents"), api("/api/units")]);
  state.fetchedAt = performance.now();
  const seen = new Set();
  for (const doc of inc.incidents) {
    seen.add(doc.id);
    const prev = state.incidents.get(doc.id);
    if (prev && prev.version > doc.version) continue;
    state.incidents.set(doc.id, doc);
    const t = parseTime(doc.updated_time);
    if (t > state.now) state.now = t;
    state.filters.noteCategory(doc.category);
    state.dirty.add(doc.id);
  }
  for (const id of [...state.incidents.keys()]) {
    if (!seen.has(id)) {
      state.incidents.delete(id);
      state.dirty.add(id);
    }
  }
  const unitIds = new Set();
  for (const u of units.units) {
    unitIds.add(u.id);
    applyUnit(u);
  }
  for (const id of [...state.units.keys()]) {
    if (!unitIds.has(id)) {
      state.units.delete(id);
      state.map.removeUnit(id);
    }
  }
  state.seq = Math.min(inc.seq, units.seq);
  state.queueDirty = true;
  flush();
  if (!state.offline) openStream();
}

// ---- start ----------------------------------------------------------------------------------

// A console just started may not have read the city's reference tables yet: empty layers are asked for again.
async function loadLayers(names = LAYERS, tries = 6) {
  const results = await Promise.allSettled(names.map((name) => api(`/api/layers/${name}`)));
  const empty = names.filter((name, i) => {
    const r = results[i];
    return r.status === "fulfilled" && !state.map.addBaseLayer(name, r.value) && name !== "roads";
  });
  if (empty.length && tries > 1) setTimeout(() => loadLayers(empty, tries - 1), 5000);
}

async function loadConfig() {
  // Optional (tile URL for deployments that have a tile server); the console works without it.
  try {
    return await api("/api/config");
  } catch {
    return {};
  }
}

async function start(me) {
  state.user = me.user;
  setCsrf(me.csrf);
  $("#login").hidden = true;
  $("#app").hidden = false;
  $("#who").replaceChildren(
    h("b", { "data-testid": "user-name" }, me.user.name),
    ` · `,
    h("span", { "data-testid": "user-role" }, me.user.role),
    ` · `,
    h("span", { class: "scopes", title: "Scopes" }, (me.user.scopes || []).map((x) => (Array.isArray(x) ? x.join(" › ") : x)).join("; ") || "no scope"),
  );
  const config = await loadConfig();
  state.map = new SituationMap($("#map"), {
    tileUrl: config.tile_url || null,
    tileAttribution: config.tile_attribution || "",
    onIncidentClick: openCard,
  });
  state.filters = new Filters($("#filters"), refilter);
  state.queue = new Queue($("#queue"), $("#queue-count"), openCard);
  state.card = new Card($("#card"), {
    canAct: () => WRITE_ROLES.has(state.user.role),
    onAction: (id, body) => api(`/api/incidents/${encodeURIComponent(id)}/actions`, { method: "POST", body }),
    onLayout: () => state.map.resized(),
    onClose: () => {
      state.queue.selected = null;
      state.queueDirty = true;
      schedule();
    },
  });
  await Promise.all([loadLayers(), resync()]);
  // Two frames: Leaflet's canvas redraws on the next animation frame after the markers were added.
  requestAnimationFrame(() =>
    requestAnimationFrame(() => {
      window.__renderedAt = performance.now();
      window.__rendered = true;
      document.body.dataset.rendered = "true"; // for checks that cannot evaluate scripts (the page's CSP)
    }),
  );
  setInterval(() => {
    state.queueDirty = true;
    schedule();
  }, 15000);
}

function openCard(id) {
  state.queue.selected = id;
  state.queueDirty = true;
  schedule();
  state.card.open(id);
  state.map.focus(state.incidents.get(id));
}

// Going offline closes the stream; coming back reopens it from the last sequence applied, so nothing is missed.
window.addEventListener("offline", () => {
  state.offline = true;
  closeStream();
  $("#live").className = "off";
  $("#live").textContent = "offline";
  banner("Offline: the live view will catch up when the network is back");
});
window.addEventListener("online", () => {
  state.offline = false;
  if (state.user) {
    banner("Back online; catching up…", "ok");
    openStream();
  }
});

async function boot() {
  $("#login-form").addEventListener("submit", onLogin);
  $("#logout").addEventListener("click", onLogout);
  try {
    await start(await api("/api/me"));
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) {
      showLogin(sessionStorage.getItem("saqshy.message") || "");
      sessionStorage.removeItem("saqshy.message");
    }
    else showLogin(`The console server did not answer: ${e.message}`);
  }
}

boot();
