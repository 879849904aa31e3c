"""Hypothesis strategies for the exact-semantics tests: dense random streams around one place, small rules
of every kind parameterised by the draw, and the arrival orders the engine must be indifferent to.

Dense means: a few hundred metres around one point (a handful of shared spots, so many distances are 0, plus
free points and events without a location), a few minutes on a coarse grid of seconds (so equal times are
common), and ids drawn at random (so the tie-break by id is not the order of generation).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import yaml
from hypothesis import strategies as st

T0 = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)  # 17:00 in Asia/Almaty
LAT0, LON0 = 43.2389, 76.9455
# WGS84's meridian and prime-vertical radii of curvature at LAT0: offsets in metres are then exact to ~1 cm.
_E2 = (1 / 298.257223563) * (2 - 1 / 298.257223563)
_W = 1 - _E2 * math.sin(math.radians(LAT0)) ** 2
_M_PER_DEG_LAT = math.radians(6_378_137.0 * (1 - _E2) / _W**1.5)
_M_PER_DEG_LON = math.radians(6_378_137.0 / math.sqrt(_W)) * math.cos(math.radians(LAT0))

Event = dict[str, Any]

# A zone over the northern half of the area (used by `inside` and in_zone): id z1, name "North", kind school.
ZONE: Event = {
    "id": "zone-z1",
    "type": "ref.zone",
    "source": "test/ref",
    "time": "2026-01-05T12:00:00Z",  # the stream's first instant: no jump for the time guard (section 8)
    "data": {
        "zone_id": "z1",
        "name": "North",
        "kind": "school",
        "geometry": {
            "type": "Polygon",
            "coordinates": [
                [
                    [LON0 - 0.01, LAT0 + 0.0005],
                    [LON0 + 0.01, LAT0 + 0.0005],
                    [LON0 + 0.01, LAT0 + 0.01],
                    [LON0 - 0.01, LAT0 + 0.01],
                    [LON0 - 0.01, LAT0 + 0.0005],
                ]
            ],
        },
    },
}


def iso(at: float) -> str:
    return (T0 + timedelta(seconds=at)).isoformat().replace("+00:00", "Z")


def event(eid: str, etype: str, at: float, data: dict[str, Any], loc: tuple[float, float] | None = None) -> Event:
    body: Event = {"id": eid, "type": etype, "source": "test", "time": iso(at), "data": data}
    if loc is not None:
        body["location"] = {"lat": loc[0], "lon": loc[1]}
    return body


def offset(north_m: float, east_m: float) -> tuple[float, float]:
    """The point north_m north and east_m east of the centre, to 7 decimals (about a centimetre)."""
    return (round(LAT0 + north_m / _M_PER_DEG_LAT, 7), round(LON0 + east_m / _M_PER_DEG_LON, 7))


def time_key(ev: Event) -> tuple[datetime, str]:
    return (datetime.fromisoformat(ev["time"].replace("Z", "+00:00")), ev["id"])


# --- cases ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    """Rules (YAML texts), the rule set's settings, the events (any order) and what must come first."""

    name: str
    rules: tuple[str, ...]
    settings: str
    events: tuple[Event, ...]
    first: tuple[Event, ...] = ()  # reference data loaded before the stream (zones)
    bound: float = 30.0  # the arrival-order bound: max_out_of_orderness of `settings`

    def canonical(self) -> list[Event]:
        return sorted(self.events, key=time_key)

    def lines(self, order: Sequence[Event] | None = None) -> list[bytes]:
        body = self.canonical() if order is None else order
        return [orjson.dumps(e) for e in [*self.first, *body]]

    def __repr__(self) -> str:  # what hypothesis prints for a falsifying example: something to paste
        rules = "\n---\n".join(self.rules)
        evs = "\n".join(orjson.dumps(e).decode() for e in self.canonical())
        return f"Case {self.name}\n{self.settings}---\n{rules}\n--- events (canonical order)\n{evs}\n"


@dataclass(frozen=True)
class Dense:
    """Where and when the events of one case happen."""

    grid: int  # seconds between possible times
    slots: int  # times are 0, grid, ..., slots * grid
    spots: tuple[tuple[float, float], ...]

    @property
    def span(self) -> int:
        return self.grid * self.slots


@st.composite
def dense(draw: st.DrawFn) -> Dense:
    grid = draw(st.sampled_from([1, 5, 10, 30]))
    # at most 300 s in all: no event is ever more than max_future (5 minutes) ahead of the stream (section 8)
    slots = draw(st.integers(1, min(12, 300 // grid)))
    n = draw(st.integers(1, 4))
    spots = tuple(
        offset(draw(st.integers(-300, 300)), draw(st.integers(-300, 300))) for _ in range(n)
    )  # metres from the centre
    return Dense(grid, slots, spots)


@st.composite
def when(draw: st.DrawFn, d: Dense) -> float:
    return float(draw(st.integers(0, d.slots)) * d.grid)


@st.composite
def where(draw: st.DrawFn, d: Dense, missing: bool = True) -> tuple[float, float] | None:
    """A shared spot most often, else a free point within ~400 m; sometimes no location at all."""
    choice = draw(st.integers(0, 9))
    if choice == 0 and missing:
        return None
    if choice <= 6:
        return draw(st.sampled_from(d.spots))
    return offset(draw(st.integers(-400, 400)), draw(st.integers(-400, 400)))


def ids(n: int) -> st.SearchStrategy[list[str]]:
    """n distinct ids, random short strings (their order has nothing to do with time)."""
    return st.lists(
        st.text(alphabet="abcdefghkmnpqrstuvwxyz0123456789", min_size=1, max_size=3),
        min_size=n,
        max_size=n,
        unique=True,
    )


@st.composite
def settings_text(draw: st.DrawFn) -> tuple[str, float]:
    """ruleset.yaml: the time zone, sometimes another update_every, and an out-of-orderness bound."""
    ooo = draw(st.sampled_from([0, 10, 30]))
    text = f"timezone: Asia/Almaty\nmax_out_of_orderness: {ooo}s\n"
    ue = draw(st.sampled_from([None, 0, 10, 30]))
    if ue is not None:
        text += f"update_every: {ue}s\n"
    return text, float(ooo)


@dataclass
class IncidentParams:
    merge_window: int
    location: str
    key: str | None
    merge_within: int | None
    update_every: int | None
    max_event_ids: int | None


@st.composite
def incident_params(draw: st.DrawFn, keys: Sequence[str | None], d: Dense) -> IncidentParams:
    return IncidentParams(
        merge_window=draw(st.sampled_from([d.grid, 2 * d.grid, 30, 60, 120, 600])),
        location=draw(st.sampled_from(["first", "latest"])),
        key=draw(st.sampled_from(list(keys))),
        merge_within=draw(st.sampled_from([None, None, 50, 150, 400])),
        update_every=draw(st.sampled_from([None, None, 0, 5, 20])),
        max_event_ids=draw(st.sampled_from([None, None, 1, 2, 4])),
    )


def rule_text(
    rule_id: str,
    select: dict[str, Any],
    correlate: dict[str, Any],
    inc: IncidentParams,
    title: str,
    terms: list[dict[str, Any]],
    labels: dict[str, str] | None = None,
    summary: str | None = None,
) -> str:
    incident: dict[str, Any] = {"title": title}
    if summary is not None:
        incident["summary"] = summary
    if inc.key is not None:
        incident["key"] = inc.key
    incident["merge_window"] = f"{inc.merge_window}s"
    if inc.merge_within is not None:
        incident["merge_within"] = f"{inc.merge_within}m"
    incident["location"] = inc.location
    if inc.update_every is not None:
        incident["update_every"] = f"{inc.update_every}s"
    incident["priority"] = {"base": 3, "terms": terms}
    if labels:
        incident["labels"] = labels
    doc: dict[str, Any] = {
        "id": rule_id,
        "title": rule_id,
        "category": "test",
        "select": select,
        "correlate": correlate,
        "incident": incident,
    }
    if inc.max_event_ids is not None:
        doc["limits"] = {"max_event_ids": inc.max_event_ids}
    return yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, width=1000)


def _spatial(draw: st.DrawFn, correlate: dict[str, Any], radii: Sequence[int | None]) -> int | None:
    radius = draw(st.sampled_from(list(radii)))
    if radius is not None:
        correlate["within"] = f"{radius}m"
    return radius


def _inside(draw: st.DrawFn, correlate: dict[str, Any]) -> bool:
    label = draw(st.sampled_from([None, None, None, "z1", "North", "school"]))
    if label is not None:
        correlate["inside"] = label
    return label is not None


# --- calls, detections, reads, presses, fixes ----------------------------------------------------------------

CATEGORIES = ["fire", "gas", "medical", "info"]
PHONES = [None, "+7701", "+7702", "+7703"]
ADDRESSES = ["Abai 1", "abai 1", "Dostyk 5"]
CAMERAS = ["c1", "c2", "c3"]
PLACES = ["x", "y"]  # shared by call addresses and camera ids, so per-selection group_by can meet


@st.composite
def call(draw: st.DrawFn, eid: str, d: Dense, categories: Sequence[str] = CATEGORIES) -> Event:
    data: dict[str, Any] = {"call_id": eid, "category": draw(st.sampled_from(list(categories)))}
    phone = draw(st.sampled_from(PHONES))
    if phone is not None:
        data["phone"] = phone
    injured = draw(st.sampled_from([None, 0, 1, 2, 3]))
    if injured is not None:
        data["injured"] = injured
    data["address"] = draw(st.sampled_from(ADDRESSES + PLACES))
    return event(eid, "call.112", draw(when(d)), data, draw(where(d)))


@st.composite
def detection(draw: st.DrawFn, eid: str, d: Dense, analytics: Sequence[str]) -> Event:
    data = {
        "camera_id": draw(st.sampled_from(CAMERAS + PLACES)),
        "analytic": draw(st.sampled_from(list(analytics))),
        "label": "x",
        "confidence": draw(st.sampled_from([0.55, 0.75, 0.95])),
    }
    return event(eid, "video.detection", draw(when(d)), data, draw(where(d)))


LISTED = ["123ABC02", "123ABD02", "777KZ01", "A1"]
READ_AS = [*LISTED, "123 ABC02", "123АВС02", "128ABC02", "12ABC02", "777KZO1", "B1", "-", "999XX99"]


@st.composite
def read(draw: st.DrawFn, eid: str, d: Dense) -> Event:
    data = {
        "camera_id": draw(st.sampled_from(CAMERAS)),
        "plate": draw(st.sampled_from(READ_AS)),
        "confidence": draw(st.sampled_from([0.5, 0.7, 0.9])),
    }
    return event(eid, "anpr.read", draw(when(d)), data, draw(where(d)))


@st.composite
def hotlist_entry(draw: st.DrawFn, eid: str, d: Dense) -> Event:
    plate = draw(st.sampled_from([*LISTED, "123 ABC02", "123АВС02"]))
    # mostly in force from the start, so that reads find them; sometimes from later on
    start = draw(st.sampled_from([-2, -2, 0, draw(st.integers(0, d.slots))])) * d.grid
    data: dict[str, Any] = {
        "plate": plate,
        "reason": draw(st.sampled_from(["stolen", "wanted", "amber_alert"])),
        "priority": draw(st.integers(1, 4)),
        "valid_from": iso(start),
    }
    end = draw(st.sampled_from([None, 1, 3, 100]))
    if end is not None:
        data["valid_to"] = iso(start + end * d.grid)
    at = draw(st.sampled_from([0.0, 0.0, draw(when(d))]))
    body = event(eid, "ref.hotlist", at, data)
    body["source"] = "test/ref"
    if draw(st.integers(0, 4)) == 0:
        body["deleted"] = True
    return body


@st.composite
def press(draw: st.DrawFn, eid: str, d: Dense) -> Event:
    data = {"device_id": draw(st.sampled_from(PLACES)), "kind": draw(st.sampled_from(["fixed_button", "wearable"]))}
    return event(eid, "sos.press", draw(when(d)), data, draw(where(d)))


@st.composite
def fix(draw: st.DrawFn, eid: str, d: Dense, assigned: str | None = None) -> Event:
    data: dict[str, Any] = {
        "unit_id": draw(st.sampled_from(PLACES)),
        "unit_type": draw(st.sampled_from(["police", "police", "ambulance"])),
        "status": draw(st.sampled_from(["on_scene", "on_scene", "en_route"])),
    }
    if assigned is not None:
        data["assigned_incident"] = assigned
    return event(eid, "unit.gps", draw(when(d)), data, draw(where(d)))


@st.composite
def stream(draw: st.DrawFn, makers: Sequence[Any], d: Dense, min_size: int = 1, max_size: int = 14) -> list[Event]:
    """Between min_size and max_size events, each from one of `makers` (eid, d) -> strategy."""
    n = draw(st.integers(min_size, max_size))
    names = draw(ids(n))
    return [draw(draw(st.sampled_from(list(makers)))(eid, d)) for eid in names]


def _case(name: str, rules: Sequence[str], settings: tuple[str, float], events: list[Event], zone: bool) -> Case:
    return Case(name, tuple(rules), settings[0], tuple(events), (ZONE,) if zone else (), settings[1])


# --- one strategy per kind -----------------------------------------------------------------------------------

PRIORITY_TERMS = [
    {"name": "injured", "when": "call.data.injured > 0", "delta": -1},
    {"name": "badly", "when": "call.data.injured >= 2", "delta": -1},
    {"name": "gas", "when": 'call.data.category == "gas"', "delta": 1},
]


@st.composite
def match_cases(draw: st.DrawFn) -> Case:
    d = draw(dense())
    correlate: dict[str, Any] = {"kind": "match"}
    if draw(st.booleans()):
        correlate["group_by"] = ["data.category"]
    _spatial(draw, correlate, [None, None, 100, 300])
    zone = _inside(draw, correlate)
    inc = draw(incident_params(["{call.data.category}", "{call.data.address}", None], d))
    rule = rule_text(
        "p.match",
        {"call": {"type": "call.112", "where": 'data.category in ["fire", "gas"]'}},
        correlate,
        inc,
        "{call.data.category} call {call.data.call_id}",
        PRIORITY_TERMS,
        {"addr": "{call.data.address}"},
    )
    events = draw(stream([lambda e, d: call(e, d)], d))
    return _case("match", [rule], draw(settings_text()), events, zone)


@st.composite
def lookup_cases(draw: st.DrawFn) -> Case:
    d = draw(dense())
    correlate: dict[str, Any] = {
        "kind": "lookup",
        "table": "hotlist",
        "key": "data.plate",
        "fuzzy": draw(st.integers(0, 2)),
        "as": "hit",
    }
    _spatial(draw, correlate, [None, None, 200])
    zone = _inside(draw, correlate)
    inc = draw(incident_params(["{hit.plate}", "{read.data.plate}", None], d))
    terms = [
        {"name": "urgent", "when": "hit.priority <= 2", "delta": -1},
        {"name": "amber", "when": 'hit.reason == "amber_alert"', "delta": -2},
        {"name": "fuzzy", "when": "distance > 0", "delta": 1},
    ]
    rule = rule_text(
        "p.lookup",
        {"read": {"type": "anpr.read", "where": "data.confidence >= 0.6"}},
        correlate,
        inc,
        "Wanted {hit.plate} ({hit.reason}) at {read.data.camera_id}",
        terms,
        {"d": "{distance}", "p": "{hit.priority}", "plate": "{hit.plate}"},
    )
    events = draw(stream([read, read, hotlist_entry], d, max_size=16))
    return _case("lookup", [rule], draw(settings_text()), events, zone)


@st.composite
def threshold_cases(draw: st.DrawFn) -> Case:
    d = draw(dense())
    measure = draw(st.sampled_from(["count", "distinct", "sum"]))
    correlate: dict[str, Any] = {"kind": "threshold"}
    if measure == "count":
        correlate["count"] = draw(st.integers(1, 5))
        title = "{count} calls, last {call.data.call_id}"
    elif measure == "distinct":
        correlate["distinct"] = {"of": "data.phone", "at_least": draw(st.integers(1, 4))}
        title = "{distinct} phones in {count} calls, last {call.data.call_id}"
    else:
        correlate["sum"] = {"of": "data.injured", "at_least": draw(st.sampled_from([1, 2.5, 4, 6]))}
        title = "{sum} injured in {count} calls, last {call.data.call_id}"
    correlate["window"] = f"{draw(st.sampled_from([d.grid, 2 * d.grid, 5 * d.grid, 60, 300]))}s"
    _spatial(draw, correlate, [None, 100, 250, 500])
    group = draw(st.sampled_from([None, ["data.category"], ["lower(data.address)"]]))
    if group is not None:
        correlate["group_by"] = group
    zone = _inside(draw, correlate)
    inc = draw(incident_params([None, "{call.data.category}", "{group}"], d))
    terms = [{"name": "many", "when": "count >= 4", "delta": -1}, *PRIORITY_TERMS[:1]]
    rule = rule_text(
        "p.threshold",
        {"call": {"type": "call.112", "where": 'data.category != "info"'}},
        correlate,
        inc,
        title,
        terms,
    )
    events = draw(stream([lambda e, d: call(e, d)], d, max_size=16))
    return _case(f"threshold-{measure}", [rule], draw(settings_text()), events, zone)


FIRE_SELECTIONS: dict[str, dict[str, str]] = {
    "fire": {"type": "video.detection", "where": 'data.analytic in ["fire", "smoke"] && data.confidence >= 0.7'},
    "call": {"type": "call.112", "where": 'data.category == "fire"'},
    "crowd": {"type": "video.detection", "where": 'data.analytic == "crowd"'},
}


@st.composite
def cooccur_cases(draw: st.DrawFn, overlap: bool = False, cross: bool = False) -> Case:
    """fire / call (/ crowd) in any order; with `overlap` two selections that can pick the same detection;
    with `cross` a correlate.where across the bound events."""
    d = draw(dense())
    if overlap:
        select = {
            "fire": FIRE_SELECTIONS["fire"],
            "hot": {"type": "video.detection", "where": 'data.analytic == "fire" && data.confidence >= 0.9'},
            "call": FIRE_SELECTIONS["call"],
        }
    else:
        names = ["fire", "call", "crowd"] if draw(st.booleans()) else ["fire", "call"]
        select = {n: FIRE_SELECTIONS[n] for n in names}
    names = list(select)
    correlate: dict[str, Any] = {"kind": "cooccur"}
    if len(names) == 3:
        of = draw(st.sampled_from([None, names, names[::-1], names[:2]]))
        if of is not None:
            correlate["of"] = of
        if (overlap or draw(st.booleans())) and (of is None or len(of) == 3):
            correlate["min"] = 2
    correlate["window"] = f"{draw(st.sampled_from([d.grid, 3 * d.grid, 60, 600]))}s"
    radius = _spatial(draw, correlate, [None, 100, 300])
    if radius is not None:
        anchor = draw(st.sampled_from([None, *correlate.get("of", names)]))
        if anchor is not None:
            correlate["anchor"] = anchor
    group = draw(st.sampled_from([None, "cell", "map"]))
    if group == "cell":
        correlate["group_by"] = ["cell(location, 300)"]
    elif group == "map":
        correlate["group_by"] = {n: ["data.address" if n == "call" else "data.camera_id"] for n in names}
    if cross:
        correlate["where"] = draw(st.sampled_from(COOCCUR_WHERE))
    zone = _inside(draw, correlate)
    inc = draw(incident_params([None, "{call.data.address}"], d))
    title = " ".join(f"{n} {{{n}.id}}" for n in names)
    terms = [
        {"name": "injured", "when": "call.data.injured > 0", "delta": -1},
        {"name": "sure", "when": "fire.data.confidence >= 0.9", "delta": -1},
    ]
    rule = rule_text("p.cooccur", select, correlate, inc, title, terms)
    analytics = ["fire", "fire", "smoke", "crowd", "person"]
    events = draw(
        stream(
            [lambda e, d: detection(e, d, analytics), lambda e, d: call(e, d, ["fire", "fire", "medical"])],
            d,
            max_size=18,
        )
    )
    kind = "cooccur-overlap" if overlap else "cooccur-where" if cross else "cooccur"
    return _case(kind, [rule], draw(settings_text()), events, zone)


# correlate.where across the bound events: fields, and distances and durations as numbers (metres, seconds)
COOCCUR_WHERE = [
    "call == null || fire == null || call.data.injured > 0 || fire.data.confidence > 0.9",
    "call == null || fire == null"
    " || distance_m(fire.location, call.location) <= 150 + 2 * abs(seconds(call.time - fire.time))",
]
SEQUENCE_WHERE = [
    "a.data.camera_id != b.data.camera_id",
    # impossible travel (anpr.cloned_plate's shape): faster than 5 m/s, two reads at one instant included
    "a.data.camera_id != b.data.camera_id && distance_m(a.location, b.location) > 5 * seconds(b.time - a.time)",
]


@st.composite
def sequence_cases(draw: st.DrawFn, cross: bool = False) -> Case:
    """loiter -> crossing -> breach (optional middles), or steps over one event type (ANPR reads); with
    `cross` a correlate.where across two steps."""
    d = draw(dense())
    gaps = [d.grid, 2 * d.grid, 60, 300]
    same_type = draw(st.booleans())
    if same_type:
        select = {
            "a": {"type": "anpr.read", "where": "data.confidence >= 0.6"},
            "b": {"type": "anpr.read", "where": "data.confidence >= 0.8"},
        }
        patterns = [["a", "b"], ["b", "a"], ["a", "a"], ["a", "b", "a"], ["a", "a", "a"]]
        pattern = draw(st.sampled_from(patterns[:2] if cross else patterns))
        steps: list[dict[str, Any]] = [{"select": s} for s in pattern]
        if len(steps) == 3 and draw(st.booleans()):
            steps[1]["optional"] = True
        group = ["data.plate"] if draw(st.booleans()) else None
        once = [s for s in select if pattern.count(s) == 1]
        title = " ".join(f"{s} {{{s}.data.camera_id}}" for s in once) or "route"
        makers = [read]
    else:
        select = {
            "loiter": {"type": "video.detection", "where": 'data.analytic == "loitering"'},
            "crossing": {"type": "video.detection", "where": 'data.analytic == "line_crossing"'},
            "crowd": {"type": "video.detection", "where": 'data.analytic == "crowd"'},
            "breach": {"type": "video.detection", "where": 'data.analytic == "intrusion" && data.confidence >= 0.6'},
        }
        middle = draw(st.sampled_from([[], ["crossing"], ["crossing", "crowd"]]))
        steps = [{"select": s} for s in ["loiter", *middle, "breach"]]
        for step in steps[1:-1]:
            step["optional"] = draw(st.booleans())
        group = ["data.camera_id"] if draw(st.booleans()) else None
        used = [s["select"] for s in steps]
        select = {n: v for n, v in select.items() if n in used}
        title = " ".join(f"{s} {{{s}.id}}" for s in used)
        analytics = ["loitering", "line_crossing", "crowd", "intrusion"]
        makers = [lambda e, d: detection(e, d, analytics)]
    for step in steps[1:]:
        step["max_gap"] = f"{draw(st.sampled_from(gaps))}s"
    correlate: dict[str, Any] = {"kind": "sequence", "steps": steps}
    if cross:
        correlate["where"] = (
            draw(st.sampled_from(SEQUENCE_WHERE)) if same_type else "loiter.data.confidence <= breach.data.confidence"
        )
    if group is not None:
        correlate["group_by"] = group
    radius = _spatial(draw, correlate, [None, 100, 300])
    last = steps[-1]["select"]
    if radius is not None and [s["select"] for s in steps].count(last) == 1 and draw(st.booleans()):
        correlate["anchor"] = last
    zone = _inside(draw, correlate)
    inc = draw(incident_params([None, "{group}"], d))
    rule = rule_text("p.sequence", select, correlate, inc, title, [])
    events = draw(stream(makers, d, max_size=20))
    name = ("sequence-same-type" if same_type else "sequence") + ("-where" if cross else "")
    return _case(name, [rule], draw(settings_text()), events, zone)


@st.composite
def absence_cases(draw: st.DrawFn) -> Case:
    d = draw(dense())
    correlate: dict[str, Any] = {
        "kind": "absence",
        "after": "press",
        "expect": "arrival",
        "timeout": f"{draw(st.sampled_from([d.grid, 2 * d.grid, 5 * d.grid, 60]))}s",
    }
    _spatial(draw, correlate, [None, 100, 300])
    if draw(st.booleans()):
        correlate["group_by"] = {"press": ["data.device_id"], "arrival": ["data.unit_id"]}
    zone = _inside(draw, correlate)
    inc = draw(incident_params([None, "{press.data.device_id}"], d))
    rule = rule_text(
        "p.absence",
        {
            "press": {"type": "sos.press"},
            "arrival": {"type": "unit.gps", "where": 'data.status == "on_scene" && data.unit_type == "police"'},
        },
        correlate,
        inc,
        "SOS {press.data.device_id}",
        [{"name": "wearable", "when": 'press.data.kind == "wearable"', "delta": -1}],
        {"device": "{press.data.device_id}"},
    )
    events = draw(stream([press, fix, fix], d, max_size=16))
    return _case("absence", [rule], draw(settings_text()), events, zone)


@st.composite
def chain_cases(draw: st.DrawFn) -> Case:
    """A match rule on calls and, on its incidents' versions, a threshold and an absence (section 6)."""
    d = draw(dense())
    upstream = rule_text(
        "p.calls",
        {"call": {"type": "call.112", "where": 'data.category != "info"'}},
        {"kind": "match"},
        draw(incident_params(["{call.data.address}", "{call.data.category}"], d)),
        "{call.data.category} at {call.data.address}",
        PRIORITY_TERMS,
        {"cat": "{call.data.category}", "addr": "{call.data.address}"},
    )
    measure = draw(st.sampled_from(["count", "distinct"]))
    correlate: dict[str, Any] = {"kind": "threshold"}
    if measure == "count":
        correlate["count"] = draw(st.integers(2, 4))
    else:
        correlate["distinct"] = {"of": 'data.labels["cat"]', "at_least": 2}
    correlate["window"] = f"{draw(st.sampled_from([d.grid, 3 * d.grid, 120]))}s"
    if draw(st.booleans()):
        correlate["group_by"] = ['data.labels["addr"]']
    if draw(st.booleans()):
        upstream += "emit: false\n"  # an internal helper: its incidents feed the chains and are never sent
    status = draw(st.sampled_from(['data.status != "closed"', 'data.status == "open"', "true"]))
    # by rule id, or by priority (every rule whose incidents are sent: p.calls, p.unanswered)
    pick = draw(st.sampled_from(['data.rule_id == "p.calls"', "data.priority <= 3"]))
    downstream = rule_text(
        "p.busy",
        {"seen": {"type": "incident", "where": f"{pick} && {status}"}},
        correlate,
        draw(incident_params([None, '{seen.data.labels["addr"]}'], d)),
        "{count} updates, last {seen.data.title}",
        [{"name": "urgent", "when": "seen.data.priority <= 2", "delta": -1}],
    )
    absence = rule_text(
        "p.unanswered",
        {
            "opened": {"type": "incident", "where": 'data.rule_id == "p.calls" && data.status == "open"'},
            "again": {"type": "call.112", "where": 'data.category == "medical"'},
        },
        {
            "kind": "absence",
            "after": "opened",
            "expect": "again",
            "timeout": f"{draw(st.sampled_from([d.grid, 60]))}s",
            "within": "300m",
        },
        draw(incident_params([None, "{opened.data.id}"], d)),
        "No medical call after {opened.data.title}",
        [],
        {"incident": "{opened.data.id}"},
    )
    events = draw(stream([lambda e, d: call(e, d)], d, max_size=16))
    return _case("chain", [upstream, downstream, absence], draw(settings_text()), events, False)


# --- arrival orders ------------------------------------------------------------------------------------------


@dataclass
class Arrival:
    """An arrival order of a case's events and what was done to get it."""

    how: str
    events: list[Event]
    copies: set[str] = field(default_factory=set)  # ids delivered more than once


def _seconds(ev: Event) -> float:
    return (time_key(ev)[0] - T0).total_seconds()


@st.composite
def ties_shuffled(draw: st.DrawFn, events: Sequence[Event]) -> Arrival:
    """Sorted by time, equal times in a random order (not by id)."""
    rank = draw(st.permutations(range(len(events))))
    order = sorted(range(len(events)), key=lambda i: (_seconds(events[i]), rank[i]))
    return Arrival("ties shuffled", [events[i] for i in order])


@st.composite
def bounded_shuffle(draw: st.DrawFn, events: Sequence[Event], bound: float) -> Arrival:
    """Each event delivered at its time plus a delay in [0, bound]: no event arrives after one that is more than
    `bound` newer than it (if f comes before e, f.time + df <= e.time + de, so f.time - e.time <= bound)."""
    n = len(events)
    delays = draw(st.lists(st.integers(0, int(bound)), min_size=n, max_size=n))
    rank = draw(st.permutations(range(n)))
    order = sorted(range(n), key=lambda i: (_seconds(events[i]) + delays[i], rank[i]))
    return Arrival(f"shuffled within {bound:g}s", [events[i] for i in order])


@st.composite
def with_duplicates(draw: st.DrawFn, events: Sequence[Event], bound: float) -> Arrival:
    """Copies of some events: each copy delivered like any event within the bound (possibly before its
    original), and some more copies anywhere after the original (late copies are dead letters or dropped)."""
    if not events:
        return Arrival("duplicates", [])
    chosen = draw(st.lists(st.sampled_from(list(events)), min_size=1, max_size=max(1, len(events) // 2)))
    shuffled = draw(bounded_shuffle([*events, *chosen], bound))
    out = list(shuffled.events)
    late = draw(st.lists(st.sampled_from(list(events)), max_size=3))
    for ev in late:
        first = next(i for i, e in enumerate(out) if e["id"] == ev["id"])
        out.insert(draw(st.integers(first + 1, len(out))), ev)
    return Arrival(f"duplicates, {shuffled.how}", out, {e["id"] for e in [*chosen, *late]})


@st.composite
def arrival_orders(draw: st.DrawFn, events: Sequence[Event], bound: float) -> Arrival:
    """One of: ties shuffled, shuffled within the bound, with duplicates."""
    how = draw(st.sampled_from(["ties", "bounded", "duplicates"]))
    if how == "ties":
        return draw(ties_shuffled(events))
    if how == "bounded":
        return draw(bounded_shuffle(events, bound))
    return draw(with_duplicates(events, bound))
