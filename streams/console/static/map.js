// The situation map: the city's own GeoJSON as base layers, incidents and units as canvas circle markers (one
// <canvas>, no DOM node per marker, so 500 incidents and 2,000 units draw in milliseconds).
/* global L */
import { PRIORITY_COLOURS, UNIT_COLOURS, adminLabel, categoryLetter, fmtClock } from "./util.js";

// A circle marker that also paints its category letter on the shared canvas.
const LetterMarker = L.CircleMarker.extend({
  _updatePath() {
    L.CircleMarker.prototype._updatePath.call(this);
    const ctx = this._renderer && this._renderer._ctx;
    if (!ctx || !this.options.letter || this._empty()) return;
    const p = this._point;
    ctx.save();
    ctx.globalAlpha = this.options.fillOpacity >= 0.5 ? 1 : 0.45;
    ctx.fillStyle = this.options.letterColour || "#111";
    ctx.font = `bold ${Math.round(this._radius * 1.1)}px system-ui, sans-serif`;
    ctx.textAlign = "center";
    ctx.textBaseline = "middle";
    ctx.fillText(this.options.letter, p.x, p.y + 0.5);
    ctx.restore();
  },
});

// Admin areas: the deeper the level, the finer the line; the Republic and the region frame nothing at city zoom.
const ADMIN_WEIGHT = { republic: 3, region: 2.5, city: 2, district: 1.5 };
const BASE_STYLES = {
  admin: (f) => {
    const level = (f && f.properties && f.properties.level) || "district";
    return { color: "#555", weight: ADMIN_WEIGHT[level] || 1, fill: level !== "republic" && level !== "region", fillOpacity: 0.03, dashArray: level === "district" || !ADMIN_WEIGHT[level] ? "4 3" : null };
  },
  zones: () => ({ color: "#8e44ad", weight: 1, fillOpacity: 0.08 }),
  roads: () => ({ color: "#9aa0a6", weight: 2, opacity: 0.8 }),
};

function incidentStyle(inc) {
  const closed = inc.status === "closed";
  return {
    radius: inc.priority <= 2 ? 9 : 7,
    color: closed ? "#777" : inc.status === "escalated" ? "#000" : "#222",
    weight: inc.status === "escalated" ? 2.5 : 1,
    fillColor: PRIORITY_COLOURS[inc.priority] || "#999",
    // closed incidents fade rather than vanish, so the operator sees what just ended
    fillOpacity: closed ? 0.2 : 0.9,
    opacity: closed ? 0.35 : 1,
    letter: categoryLetter(inc.category),
    letterColour: inc.priority <= 2 ? "#fff" : "#111",
  };
}

function unitStyle(unit) {
  return {
    radius: 5,
    color: "#111",
    weight: 1.5,
    fillColor: UNIT_COLOURS[unit.status] || "#666",
    fillOpacity: 0.9,
  };
}

export class SituationMap {
  constructor(el, { tileUrl = null, tileAttribution = "", onIncidentClick = () => {} } = {}) {
    this.renderer = L.canvas({ padding: 0.3 });
    this.map = L.map(el, { preferCanvas: true, renderer: this.renderer, zoomSnap: 0.25 });
    this.map.setView([43.25, 76.92], 12);
    if (tileUrl) L.tileLayer(tileUrl, { attribution: tileAttribution, maxZoom: 19 }).addTo(this.map);
    this.onIncidentClick = onIncidentClick;
    // One tooltip and one click handler per group, not per marker: thousands of markers stay cheap to add.
    this.incidentLayer = L.featureGroup().addTo(this.map);
    this.unitLayer = L.featureGroup().addTo(this.map);
    this.incidentLayer.bindTooltip((m) => this._incidentTip(m.incident));
    this.incidentLayer.on("click", (e) => e.layer && this.onIncidentClick(e.layer.incidentId));
    this.unitLayer.bindTooltip((m) => {
      const u = m.unit;
      if (!u) return "";
      const job = u.incident_id ? ` · ${u.incident_id}` : "";
      return escapeHtml(`${u.id} (${u.kind}) · ${u.status}${job}`);
    });
    this.incidentMarkers = new Map();
    this.unitMarkers = new Map();
    this.overlays = {};
    this.control = L.control.layers(null, {}, { collapsed: true }).addTo(this.map);
    this.control.addOverlay(this.incidentLayer, "Incidents");
    this.control.addOverlay(this.unitLayer, "Units");
    L.control.scale({ imperial: false }).addTo(this.map);
    this._legend().addTo(this.map);
  }

  _legend() {
    const legend = L.control({ position: "bottomleft" });
    legend.onAdd = () => {
      const div = L.DomUtil.create("div", "legend");
      const row = (title, entries) => {
        const r = document.createElement("div");
        const b = document.createElement("b");
        b.textContent = title;
        r.append(b);
        for (const [label, colour] of entries) {
          const i = document.createElement("i");
          i.style.background = colour;
          r.append(i, label);
        }
        return r;
      };
      div.append(
        row("Priority", Object.entries(PRIORITY_COLOURS)),
        row("Units", Object.entries(UNIT_COLOURS).map(([k, v]) => [k.replace("_", " "), v])),
      );
      return div;
    };
    return legend;
  }

  // The map's box changed (the card docked or left): Leaflet must measure it again.
  resized() {
    this.map.invalidateSize({ animate: false }); // keeps the centre where it was
  }

  // False when the layer is empty (nothing added): the caller may ask again later.
  addBaseLayer(name, fc) {
    if (!fc || !Array.isArray(fc.features) || fc.features.length === 0) return false;
    if (this.overlays[name]) {
      this.control.removeLayer(this.overlays[name]);
      this.map.removeLayer(this.overlays[name]);
    }
    let layer;
    if (name === "cameras") layer = this._cameraLayer(fc);
    else if (name === "devices") layer = this._pointLayer(fc, "#8e24aa", 3);
    else {
      const style = BASE_STYLES[name] || BASE_STYLES.admin;
      layer = L.geoJSON(fc, {
        renderer: this.renderer,
        style,
        interactive: name !== "roads",
        onEachFeature: (f, l) => {
          const p = f.properties || {};
          const label = p.name || p.zone_id || p.area_id || p.id;
          if (!label) return;
          // districts are named on the map itself; every other area on hover
          if (name === "admin" && p.level === "district")
            l.bindTooltip(escapeHtml(label), { permanent: true, direction: "center", className: "area-label" });
          else l.bindTooltip(escapeHtml(label), { sticky: true });
        },
      });
    }
    layer.addTo(this.map);
    // base layers stay under the live markers
    this.unitLayer.bringToFront();
    this.incidentLayer.bringToFront();
    this.overlays[name] = layer;
    this.control.addOverlay(layer, name[0].toUpperCase() + name.slice(1));
    if (name === "admin") this._fitAdmin(layer);
    return true;
  }

  // Fit the view to the city (its districts, or the deepest level there is), never to the whole Republic.
  _fitAdmin(layer) {
    const order = ["republic", "region", "city", "district"];
    let best = -1;
    layer.eachLayer((l) => {
      const lv = order.indexOf(l.feature?.properties?.level);
      best = Math.max(best, lv === -1 ? order.length : lv);
    });
    const bounds = L.latLngBounds([]);
    layer.eachLayer((l) => {
      const lv = order.indexOf(l.feature?.properties?.level);
      if ((lv === -1 ? order.length : lv) >= Math.min(best, 3) && l.getBounds) bounds.extend(l.getBounds());
    });
    if (bounds.isValid()) this.map.fitBounds(bounds, { padding: [10, 10] });
  }

  _cameraLayer(fc) {
    return L.geoJSON(fc, {
      renderer: this.renderer,
      style: (f) =>
        f.properties && f.properties.kind === "fov"
          ? { color: "#0288d1", weight: 0.5, fillOpacity: 0.07, interactive: false }
          : {},
      pointToLayer: (f, ll) =>
        L.circleMarker(ll, { radius: 2.5, color: "#546e7a", weight: 1.2, fillOpacity: 0, renderer: this.renderer }),
      onEachFeature: (f, l) => {
        const p = f.properties || {};
        if (p.kind !== "fov") l.bindTooltip(escapeHtml(`${p.camera_id || p.id || "camera"} ${p.kind || ""} ${p.status || ""}`));
      },
    });
  }

  _pointLayer(fc, colour, radius) {
    return L.geoJSON(fc, {
      pointToLayer: (f, ll) =>
        L.circleMarker(ll, { radius, color: colour, weight: 1.2, fillOpacity: 0, dashArray: "2 2", renderer: this.renderer }),
      onEachFeature: (f, l) => {
        const p = f.properties || {};
        l.bindTooltip(escapeHtml(p.name || p.device_id || p.id || "device"));
      },
    });
  }

  upsertIncident(inc, visible) {
    let m = this.incidentMarkers.get(inc.id);
    if (!inc.location) {
      if (m) this.removeIncident(inc.id);
      return;
    }
    const ll = [inc.location.lat, inc.location.lon];
    if (!m) {
      m = new LetterMarker(ll, { ...incidentStyle(inc), renderer: this.renderer });
      this.incidentMarkers.set(inc.id, m);
    } else {
      m.setLatLng(ll);
      L.setOptions(m, incidentStyle(inc));
      m.setStyle(incidentStyle(inc));
    }
    m.incidentId = inc.id;
    m.incident = inc;
    const shown = this.incidentLayer.hasLayer(m);
    if (visible && !shown) this.incidentLayer.addLayer(m);
    else if (!visible && shown) this.incidentLayer.removeLayer(m);
  }

  _incidentTip(inc) {
    if (!inc) return "";
    const e = escapeHtml;
    return `P${e(inc.priority)} ${e(inc.category)} · ${e(inc.status)}<br>${e(inc.title)}<br>${e(
      adminLabel(inc.admin),
    )} · ${e(fmtClock(inc.updated_time))}`;
  }

  removeIncident(id) {
    const m = this.incidentMarkers.get(id);
    if (m) {
      this.incidentLayer.removeLayer(m);
      this.incidentMarkers.delete(id);
    }
  }

  upsertUnit(unit) {
    if (typeof unit.lat !== "number" || typeof unit.lon !== "number") return;
    let m = this.unitMarkers.get(unit.id);
    if (!m) {
      m = L.circleMarker([unit.lat, unit.lon], { ...unitStyle(unit), renderer: this.renderer });
      this.unitMarkers.set(unit.id, m);
      this.unitLayer.addLayer(m);
    } else {
      m.setLatLng([unit.lat, unit.lon]);
      if (m.unit.status !== unit.status) m.setStyle(unitStyle(unit));
    }
    m.unit = unit;
  }

  removeUnit(id) {
    const m = this.unitMarkers.get(id);
    if (m) {
      this.unitLayer.removeLayer(m);
      this.unitMarkers.delete(id);
    }
  }

  // What the map currently draws; the browser tests read this, since canvas markers have no DOM nodes.
  shownIncidentIds() {
    const ids = [];
    this.incidentLayer.eachLayer((m) => ids.push(m.incidentId));
    return ids;
  }

  // Pan only when the incident is out of view: the operator keeps the picture they were looking at.
  focus(inc) {
    if (!inc || !inc.location) return;
    const ll = L.latLng(inc.location.lat, inc.location.lon);
    if (!this.map.getBounds().pad(-0.05).contains(ll)) this.map.panTo(ll);
  }
}

function escapeHtml(s) {
  return String(s ?? "").replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
