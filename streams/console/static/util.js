// Small helpers shared by the console's modules: DOM building without innerHTML (data is never parsed as HTML),
// the JSON API with the CSRF header, and time formatting.

export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") el.className = v;
    else if (k === "dataset") Object.assign(el.dataset, v);
    else if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "checked" || k === "disabled" || k === "value" || k === "selected") el[k] = v;
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

export class ApiError extends Error {
  constructor(status, body) {
    super((body && body.error) || `HTTP ${status}`);
    this.status = status;
    this.body = body;
  }
}

let csrfToken = null;
export function setCsrf(token) {
  csrfToken = token;
}

// Every state-changing request carries X-CSRF-Token (the contract); GETs carry only the session cookie.
export async function api(path, { method = "GET", body } = {}) {
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (method !== "GET" && csrfToken) headers["X-CSRF-Token"] = csrfToken;
  const res = await fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: "same-origin",
  });
  let data = null;
  const text = await res.text();
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = { error: text };
    }
  }
  if (!res.ok) throw new ApiError(res.status, data);
  return data;
}

export function parseTime(iso) {
  return iso ? Date.parse(iso) : NaN;
}

// Times are shown in UTC, as the engine writes them: the operators of one centre share one clock.
export function fmtTime(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return String(iso);
  return d.toISOString().slice(0, 19).replace("T", " ");
}

export function fmtClock(iso) {
  return fmtTime(iso).slice(11);
}

export function fmtDuration(seconds) {
  if (seconds === null || seconds === undefined || Number.isNaN(seconds)) return "";
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min`;
  return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
}

export function fmtDistance(m) {
  if (m === null || m === undefined) return "";
  return m < 1000 ? `${Math.round(m)} m` : `${(m / 1000).toFixed(1)} km`;
}

export function adminLabel(admin) {
  if (!admin) return "";
  return [admin.republic, admin.region, admin.city, admin.district].filter(Boolean).join(" › ");
}

// Priority 1 is the most urgent; the palette runs red -> blue.
export const PRIORITY_COLOURS = { 1: "#d7191c", 2: "#f46d43", 3: "#fdae61", 4: "#66bd63", 5: "#4575b4" };

export const UNIT_COLOURS = {
  available: "#1a9850",
  dispatched: "#fdae61",
  en_route: "#f46d43",
  on_scene: "#2166ac",
  busy: "#8c510a",
  off_duty: "#9e9e9e",
};

const CATEGORY_LETTERS = {
  crime: "C",
  fire: "F",
  medical: "M",
  traffic: "T",
  sos: "S",
  gas: "G",
  dispatch: "D",
  public_order: "P",
  security: "X",
  violence: "V",
  wanted_vehicle: "W",
  accident: "A",
};

export function categoryLetter(category) {
  if (!category) return "?";
  return CATEGORY_LETTERS[category] || category.charAt(0).toUpperCase();
}
