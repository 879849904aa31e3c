"""A brute-force reference of docs/semantics.md: the incidents a list of events gives, computed the dumb way.

Written from docs/semantics.md alone, to hold the engine to it (tests/property/test_exact_*.py). It imports
nothing from rules.core or streams: only the loader's compiled rules (selections' `where`, group and measure
closures, key/title/summary/label templates, priority terms), the event records and schemas, and the plate
normalisation and edit distance of rules/core/plates.py (a documented normalisation, kept in one place).
The distance is this module's own implementation of the formula the page gives (section "Distances").

How (section numbers are docs/semantics.md's):

1. The events (any order) are deduplicated by id, the copy seen first kept (1), and put in canonical order:
   by (time, id) (1). Times are integer microseconds here, so every closed interval is exact.
2. The rules are taken in dependency order (6). For each rule, its events are the input events plus the
   versions of the incidents of the rules before it, as events `<id>@<version>` at `updated_time` (6).
3. Every kind's matches are enumerated directly from their definition (4), O(n^2) and worse, no indexes.
4. The matches, in canonical order of (match time, trigger key), together with the dispatcher's `close`
   actions and the units' `on_scene` reports, are run through a plain event-time simulation of the incident
   rules (5): merging, ids, contents, coalesced versions, closing.

Enrichment (rules.context) is not modelled: compare with the plain Correlator / EmbeddedRunner. Reference
tables other than the hotlist (zones) are applied before everything, as section 9 asks of a runtime's input.
The time guard (8) and state limits (9) are not modelled: the generated streams never reach them.

Where docs/semantics.md leaves a choice open, `Choices` names it and its default is the reading written in
its docstring; tests can run the reference with the other reading to tell an engine bug from a doc question.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import orjson
import shapely
from shapely.geometry import shape

from rules.compiler import CRule, CSelection
from rules.core.plates import edit_distance, normalize_plate  # documented plate normalisation (rules.md)
from rules.expr import ExprEnv, compile_expr
from rules.expr.compiler import Scope
from rules.loader import RuleSet
from rules.model import AbsenceSpec, CooccurSpec, LookupSpec, MatchSpec, SequenceSpec, ThresholdSpec
from rules.records import decode_record, record_from_model
from schemas import (
    EVENT_CLASSES,
    AdminPath,
    GeoPoint,
    HotlistEntry,
    Incident,
    IncidentEvent,
    PriorityTerm,
    UnitArrival,
    UnitType,
)

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)
INF = 1 << 62


# --- choices the page leaves open ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Choices:
    """Readings of docs/semantics.md where its text allows more than one; the defaults are this module's.

    version_time: "a version ... at once when its time is at least update_every after the incident's last
        version": the last version's time is when it was made ("made": the match time of a version made at
        once, last + update_every for a pending state's version, the closing/dispatch/arrival time), or its
        `updated_time` ("updated": the latest match it includes).
    close_updated_time: the `updated_time` of a closing version: the closing time ("close": updated +
        merge_window, or the dispatch action's time), or the latest match it includes ("last_match", the
        literal "a version's updated_time is the time of the latest match it includes").
    arrival_updated_time: the `updated_time` of a unit-arrival version: the arrival's time ("arrival") or
        the latest match ("last_match").
    latest_location_skips_missing: with `location: latest`, a merged match whose anchor has no location
        leaves the location where it was (True) or takes it away (False, literal "the anchor of the latest
        merged match").
    other_measures: with threshold, `count` is always the number of members; `distinct`/`sum` of a rule whose
        measure is another one are computed over `of` when the rule has one ("of") or are 0 ("zero").
    pending_updated_time: the `updated_time` of a pending state's version: its latest match ("last_match",
        the page's words) or the time it is made ("made").
    pending_first: a pending state due at time t becomes a version after the matches at t ("after", the
        page's "after every match up to that time") or before them ("before").
    close_takes_pending: a pending state due exactly at the closing time is in the closing version (True, "a
        pending state is included in the closing version") or a version of its own just before it (False).
    """

    version_time: Literal["made", "updated"] = "made"
    close_updated_time: Literal["close", "last_match"] = "close"
    arrival_updated_time: Literal["arrival", "last_match"] = "arrival"
    latest_location_skips_missing: bool = True
    other_measures: Literal["of", "zero"] = "zero"
    pending_updated_time: Literal["last_match", "made"] = "made"
    pending_first: Literal["after", "before"] = "after"
    close_takes_pending: bool = True


DEFAULT_CHOICES = Choices()


# --- time and space ------------------------------------------------------------------------------------------


def to_us(t: datetime) -> int:
    return (t - EPOCH) // _US


def from_us(us: int) -> datetime:
    return EPOCH + timedelta(microseconds=us)


def dur_us(seconds: float) -> int:
    return round(seconds * 1_000_000)


_A = 6_378_137.0  # WGS84
_F = 1 / 298.257223563
_E2 = _F * (2 - _F)


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """d(a, b) as the page's section "Distances" defines it: a local flat-earth projection at the pair's mean
    latitude, with WGS84's meridian (M) and prime-vertical (N) radii of curvature there; beyond 50 km or at
    70 degrees of latitude and more, the exact geodesic (the page's fallback is Vincenty; the two differ by
    well under a millimetre, and the generated streams never go there)."""
    phi = math.radians((lat1 + lat2) / 2)
    s = math.sin(phi)
    w = 1 - _E2 * s * s
    m = _A * (1 - _E2) / (w * math.sqrt(w))
    n = _A / math.sqrt(w)
    dlon = (lon2 - lon1 + 180.0) % 360.0 - 180.0
    north = m * math.radians(lat2 - lat1)
    east = n * math.cos(phi) * math.radians(dlon)
    d = math.hypot(north, east)
    if d > 50_000 or max(abs(lat1), abs(lat2)) >= 70:
        from pyproj import Geod

        return float(Geod(ellps="WGS84").inv(lon1, lat1, lon2, lat2)[2])
    return d


# --- events --------------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Ev:
    """One event in canonical order: its record, key (time in µs, id) and location."""

    rec: Any
    id: str
    type: str
    us: int
    lat: float | None
    lon: float | None

    @property
    def key(self) -> tuple[int, str]:
        return (self.us, self.id)


def ev_of(rec: Any) -> Ev:
    loc = rec.location
    return Ev(rec, rec.id, rec.type, to_us(rec.time), loc.lat if loc is not None else None, loc.lon if loc else None)


def records_from_lines(lines: Iterable[bytes]) -> list[Any]:
    """Decode JSON lines into records (what the runtimes do); lines that are not valid events are skipped."""
    out = []
    for line in lines:
        if line.strip():
            out.append(decode_record(line))
    return out


def canonical(records: Iterable[Any]) -> list[Ev]:
    """Section 1: the first copy of every id (in the given, arrival, order), sorted by (time, id)."""
    seen: dict[str, Ev] = {}
    for rec in records:
        if rec.id not in seen:
            seen[rec.id] = ev_of(rec)
    return sorted(seen.values(), key=lambda e: e.key)


def latest(evs: Iterable[Ev]) -> Ev:
    """The last in canonical order."""
    return max(evs, key=lambda e: e.key)


def near(a: Ev, b: Ev, radius: float) -> bool:
    """d(a, b) <= radius; an event without a location is not within any distance of anything (3)."""
    if a.lat is None or b.lat is None or a.lon is None or b.lon is None:
        return False
    return distance_m(a.lat, a.lon, b.lat, b.lon) <= radius


def truthy(value: Any) -> bool:
    """A condition's value: null (and anything not true) counts as false."""
    return value is True or (value is not None and value is not False and bool(value))


# --- reference tables ----------------------------------------------------------------------------------------


class Zones:
    """ref.zone events, all applied before the stream (section 9); `inside` is strict (border outside)."""

    def __init__(self) -> None:
        self.zones: dict[str, tuple[str, str, str, Any]] = {}

    def apply(self, ev: Ev) -> None:
        data = ev.rec.data
        if getattr(ev.rec, "deleted", False):
            self.zones.pop(data.zone_id, None)
        else:
            geom = shape(_builtins(data.geometry))
            self.zones[data.zone_id] = (data.zone_id, data.name, str(data.kind), geom)

    def inside(self, ev: Ev, label: str) -> bool:
        if ev.lat is None or ev.lon is None:
            return False
        return any(
            label in (zid, name, kind) and bool(shapely.contains_xy(geom, ev.lon, ev.lat))
            for zid, name, kind, geom in self.zones.values()
        )


def _builtins(value: Any) -> Any:
    import msgspec

    return msgspec.to_builtins(value)


def _letter_gap(a: Counter[str], b: Counter[str]) -> int:
    return sum(abs(a[ch] - b[ch]) for ch in a.keys() | b.keys())


class Hotlist:
    """The hotlist as of any time (section 4, lookup): per normalised plate, its ref.hotlist events."""

    def __init__(self, events: Sequence[Ev]) -> None:
        self.by_plate: dict[str, list[Ev]] = {}
        for ev in events:  # canonical order
            self.by_plate.setdefault(normalize_plate(ev.rec.data.plate), []).append(ev)
        self._counts = {plate: Counter(plate) for plate in self.by_plate}

    def _letters(self, plate: str) -> Counter[str]:
        return self._counts[plate]

    def in_force(self, plate: str, us: int, read_id: str) -> Any | None:
        """The entry set by the latest ref.hotlist event of the plate before the read (canonical order), if
        valid at the read's time."""
        latest = None
        for ev in self.by_plate.get(plate, ()):
            if ev.key < (us, read_id):
                latest = ev  # canonical order: the last one before the read wins
        if latest is None or getattr(latest.rec, "deleted", False):
            return None
        entry = latest.rec.data
        valid_to = to_us(entry.valid_to) if entry.valid_to is not None else INF
        return entry if to_us(entry.valid_from) <= us < valid_to else None

    def lookup(self, key: str, us: int, fuzzy: int, read_id: str) -> tuple[Any, int] | None:
        """The hit: the candidate in force with the smallest (edit distance, hotlist priority, plate)."""
        best: tuple[int, int, str, Any] | None = None
        letters = Counter(key)
        for plate in self.by_plate:
            # a shortcut, not a change of meaning: one edit changes the letters' multiset by at most 2
            if plate != key and _letter_gap(letters, self._letters(plate)) > 2 * fuzzy:
                continue
            dist = 0 if plate == key else edit_distance(key, plate, fuzzy)
            if dist > fuzzy:
                continue
            entry = self.in_force(plate, us, read_id)
            if entry is None:
                continue
            cand = (dist, entry.priority, plate, entry)
            if best is None or cand[:3] < best[:3]:
                best = cand
        return (best[3], best[0]) if best is not None else None


# --- matches -------------------------------------------------------------------------------------------------


@dataclass
class Match:
    time: int  # µs: the trigger's time; an absence's deadline
    trigger: Ev
    sel_order: int  # tie-break between matches of one trigger through several selections
    anchor: Ev
    bindings: dict[str, Ev]
    evidence: list[Ev]  # canonical order
    group: tuple[Any, ...]
    count: int
    distinct: int = 0
    sum: float = 0.0
    hit: Any = None
    distance: int = 0

    @property
    def order(self) -> tuple[int, int, str, int]:
        return (self.time, self.trigger.us, self.trigger.id, self.sel_order)


def group_text(group: tuple[Any, ...]) -> str:
    """The group as the incident key without `incident.key` and as `group` in templates (section 2): "" without
    group_by, else the JSON array of the values."""
    if not group:
        return ""
    return orjson.dumps(list(group), default=str).decode()


class RuleEval:
    """One rule's selections over its events, and every kind's matches by direct enumeration (section 4)."""

    def __init__(self, rule: CRule, events: Sequence[Ev], zones: Zones, ruleset: RuleSet, choices: Choices):
        self.rule = rule
        self.spec = rule.spec.correlate
        self.zones = zones
        self.choices = choices
        self.selected: dict[str, list[Ev]] = {}
        self.groups: dict[tuple[str, str], tuple[Any, ...]] = {}
        for sel in rule.selections:
            chosen = []
            for ev in events:
                if ev.type == sel.event_type and (sel.where is None or truthy(sel.where(ev.rec))):
                    chosen.append(ev)
                    self.groups[(sel.name, ev.id)] = tuple(g(ev.rec) for g in sel.group)
            self.selected[sel.name] = chosen
        self.cross_names: set[str] = set()
        self.cross = self._cross_condition(ruleset)
        self._by_group: dict[str, Any] = {}

    # helpers ------------------------------------------------------------------------------------------------
    def group(self, sel: str, ev: Ev) -> tuple[Any, ...]:
        return self.groups[(sel, ev.id)]

    def in_group(self, sel: str, gx: tuple[Any, ...]) -> list[Ev]:
        """The selected events of `sel` that can be in group `gx` (canonical order): only a shortcut, so that
        a sequence over every ANPR read of a day stays quadratic per plate, not per day; callers still test
        the group. Groups that cannot be hashed fall back to every selected event."""
        index = self._by_group.get(sel)
        if index is None:
            index = {}
            try:
                for y in self.selected[sel]:
                    index.setdefault(self.group(sel, y), []).append(y)
            except TypeError:
                index = False
            self._by_group[sel] = index
        if index is False:
            return self.selected[sel]
        try:
            return index.get(gx, [])  # type: ignore[union-attr]
        except TypeError:
            return self.selected[sel]

    def inside_ok(self, anchor: Ev) -> bool:
        return self.spec.inside is None or self.zones.inside(anchor, self.spec.inside)

    def _cross_condition(self, ruleset: RuleSet) -> Callable[[dict[str, Any]], Any] | None:
        """correlate.where, compiled over the bindings (selection name -> event, null when unbound)."""
        text = self.spec.where
        if text is None:
            return None
        names = [s.name for s in self.rule.selections]
        bare = re.sub(r'"[^"]*"|\'[^\']*\'', " ", text)  # string literals out
        self.cross_names = set(re.findall(r"(?<![.\w])([a-z_][a-z0-9_]*)", bare)) & set(names)
        types: dict[str, Any] = {s.name: EVENT_CLASSES[s.event_type] for s in self.rule.selections}
        env = ExprEnv(timezone=ruleset.settings.timezone, zones=ruleset.reference.zones)
        return compile_expr(text, Scope.bindings(types), env=env, expect=bool).fn

    def _single(self) -> CSelection:
        name = getattr(self.spec, "select", None)
        return self.rule.by_name[name] if name else self.rule.selections[0]

    # kinds --------------------------------------------------------------------------------------------------
    def matches(self, hotlist: Hotlist) -> list[Match]:
        spec = self.spec
        if isinstance(spec, MatchSpec):
            out = self._match()
        elif isinstance(spec, LookupSpec):
            out = self._lookup(spec, hotlist)
        elif isinstance(spec, ThresholdSpec):
            out = self._threshold(spec)
        elif isinstance(spec, CooccurSpec):
            out = self._cooccur(spec)
        elif isinstance(spec, SequenceSpec):
            out = self._sequence(spec)
        elif isinstance(spec, AbsenceSpec):
            out = self._absence(spec)
        else:
            raise NotImplementedError(type(spec).__name__)
        return sorted(out, key=lambda m: m.order)

    def _match(self) -> list[Match]:
        sel = self._single()
        return [
            Match(x.us, x, 0, x, {sel.name: x}, [x], self.group(sel.name, x), 1)
            for x in self.selected[sel.name]
            if self.inside_ok(x)
        ]

    def _lookup(self, spec: LookupSpec, hotlist: Hotlist) -> list[Match]:
        sel = self._single()
        key_fn = self.rule.lookup_key
        out = []
        for x in self.selected[sel.name]:
            raw = key_fn(x.rec) if key_fn is not None else None
            if not isinstance(raw, str):
                continue
            key = normalize_plate(raw)
            if not key:
                continue
            found = hotlist.lookup(key, x.us, spec.fuzzy, x.id)
            if found is None or not self.inside_ok(x):
                continue
            hit, dist = found
            out.append(Match(x.us, x, 0, x, {sel.name: x}, [x], self.group(sel.name, x), 1, hit=hit, distance=dist))
        return out

    def _threshold(self, spec: ThresholdSpec) -> list[Match]:
        sel = self._single()
        window = dur_us(spec.window)
        if spec.count is not None:
            kind, need, of = "count", float(spec.count), None
        elif spec.distinct is not None:
            kind, need, of = "distinct", float(spec.distinct.at_least), sel.measure
        else:
            assert spec.sum is not None
            kind, need, of = "sum", float(spec.sum.at_least), sel.measure
        values: dict[str, Any] = {x.id: of(x.rec) for x in self.selected[sel.name]} if of else {}

        def distinct_of(evs: Iterable[Ev]) -> int:
            seen: list[Any] = []
            for e in evs:
                v = values.get(e.id)
                if v is not None and v not in seen:
                    seen.append(v)
            return len(seen)

        def sum_of(evs: Iterable[Ev]) -> float:
            return float(sum(v for e in evs if _is_number(v := values.get(e.id))))

        def measure(evs: list[Ev]) -> float:
            if kind == "count":
                return float(len(evs))
            if kind == "distinct":
                return float(distinct_of(evs))
            return sum_of(evs)

        out = []
        pool = self.selected[sel.name]
        for x in pool:
            gx = self.group(sel.name, x)
            members = [
                y
                for y in pool
                if y.key <= x.key
                and self.group(sel.name, y) == gx
                and y.us >= x.us - window
                and (spec.within is None or near(x, y, spec.within))
            ]
            if measure(members) < need or not self.inside_ok(x):
                continue
            # the witnesses: x, then the other members from the latest backwards while they raise the measure
            taken = [x]
            for y in sorted((m for m in members if m is not x), key=lambda e: e.key, reverse=True):
                if measure(taken) >= need:
                    break
                if kind == "count":
                    raises = True
                elif kind == "distinct":
                    v = values.get(y.id)
                    raises = v is not None and all(values.get(t.id) != v for t in taken)
                else:
                    v = values.get(y.id)
                    raises = _is_number(v) and v > 0
                if raises:
                    taken.append(y)
            other = self.choices.other_measures == "of" and of is not None
            out.append(
                Match(
                    x.us,
                    x,
                    0,
                    x,
                    {sel.name: x},
                    sorted(taken, key=lambda e: e.key),
                    gx,
                    len(members),
                    distinct_of(members) if (kind == "distinct" or other) else 0,
                    sum_of(members) if (kind == "sum" or other) else 0.0,
                )
            )
        return out

    def _cooccur(self, spec: CooccurSpec) -> list[Match]:
        # partners in the order of their names, never of the keys of `select` or `of`
        of = sorted(spec.of or [s.name for s in self.rule.selections])
        need = spec.min or len(of)
        window = dur_us(spec.window)
        radius = spec.within
        anchor_name = spec.anchor
        out = []
        position = sorted(sel.name for sel in self.rule.selections)
        for s in of:
            order = position.index(s)  # one event triggering under two selections: by selection name
            for x in self.selected[s]:
                gx = self.group(s, x)
                centre = x
                bound: dict[str, Ev] = {s: x}
                if anchor_name is not None and anchor_name != s:
                    cands = [
                        a
                        for a in self.selected[anchor_name]
                        if a.key < x.key
                        and self.group(anchor_name, a) == gx
                        and a.us >= x.us - window
                        and (radius is None or near(a, x, radius))
                    ]
                    if cands:
                        centre = latest(cands)
                        bound[anchor_name] = centre
                for o in of:
                    if o in bound:
                        continue
                    used = {e.id for e in bound.values()}
                    cands = [
                        y
                        for y in self.selected[o]
                        if y.key < x.key
                        and y.id not in used
                        and self.group(o, y) == gx
                        and y.us >= x.us - window
                        and (radius is None or near(centre, y, radius))
                    ]
                    if cands:
                        bound[o] = latest(cands)
                if len(bound) < need:
                    continue
                if self.cross is not None:
                    ctx: dict[str, Any] = {n.name: None for n in self.rule.selections}
                    ctx.update({n: e.rec for n, e in bound.items()})
                    if not truthy(self.cross(ctx)):
                        continue
                if not self.inside_ok(centre):
                    continue
                evidence = sorted(bound.values(), key=lambda e: e.key)
                out.append(Match(x.us, x, order, centre, dict(bound), evidence, gx, len(evidence)))
        return out

    def _sequence(self, spec: SequenceSpec) -> list[Match]:
        steps = spec.steps
        n = len(steps)
        radius = spec.within
        last = steps[-1].select

        def condition_holds(bound: list[tuple[int, Ev]], new: tuple[int, Ev]) -> bool:
            """correlate.where for the steps bound so far: checked when the last step it names is bound."""
            if self.cross is None:
                return True
            before = {steps[j].select for j, _ in bound}
            if self.cross_names <= before or not self.cross_names <= before | {steps[new[0]].select}:
                return True
            ctx: dict[str, Any] = {s.name: None for s in self.rule.selections}
            ctx.update({steps[j].select: e.rec for j, e in sorted([*bound, new], key=lambda p: p[0])})
            return truthy(self.cross(ctx))

        def bind(j: int, z: Ev, zstep: int, bound: list[tuple[int, Ev]], x: Ev, gx: tuple[Any, ...]) -> Any:
            """Steps j, j-1, ... 0 bound backwards from z (the event of step zstep); None: no match."""
            if j < 0:
                return []
            step = steps[j]
            gap = dur_us(steps[zstep].max_gap or 0.0)
            used = {e.id for _, e in bound}
            cands = [
                y
                for y in self.in_group(step.select, gx)
                if y.key < z.key
                and y.id not in used
                and self.group(step.select, y) == gx
                and z.us - y.us <= gap
                and (radius is None or near(x, y, radius))
                and condition_holds(bound, (j, y))
            ]
            if cands:
                y = latest(cands)
                rest = bind(j - 1, y, j, [*bound, (j, y)], x, gx)
                if rest is not None:
                    return [*rest, (j, y)]
            # no event for the step, or the steps before it failed: an optional step is skipped
            return bind(j - 1, z, zstep, bound, x, gx) if step.optional else None

        out = []
        for x in self.selected[last]:
            gx = self.group(last, x)
            if not condition_holds([], (n - 1, x)):
                continue
            found = bind(n - 2, x, n - 1, [(n - 1, x)], x, gx)
            if found is None:
                continue
            chain: list[tuple[int, Ev]] = [*found, (n - 1, x)]
            if self.cross is not None and not self.cross_names <= {steps[j].select for j, _ in chain}:
                # it names a skipped step: checked now, with that step null
                ctx = {s.name: None for s in self.rule.selections}
                ctx.update({steps[j].select: e.rec for j, e in sorted(chain, key=lambda p: p[0])})
                if not truthy(self.cross(ctx)):
                    continue
            by_step = dict(chain)
            anchor = by_step[0]
            if spec.anchor is not None:
                named = [j for j, s in enumerate(steps) if s.select == spec.anchor and j in by_step]
                if named:
                    anchor = by_step[named[0]]
            if not self.inside_ok(anchor):
                continue
            bindings = {steps[j].select: e for j, e in sorted(chain, key=lambda p: p[0])}
            evidence = sorted((e for _, e in chain), key=lambda e: e.key)
            out.append(Match(x.us, x, 0, anchor, bindings, evidence, gx, len(evidence)))
        return out

    def _absence(self, spec: AbsenceSpec) -> list[Match]:
        timeout = dur_us(spec.timeout)
        out = []
        for a in self.selected[spec.after]:
            ga = self.group(spec.after, a)
            deadline = a.us + timeout
            if any(
                b.id != a.id
                and self.group(spec.expect, b) == ga
                and a.us <= b.us <= deadline
                and (spec.within is None or near(a, b, spec.within))
                for b in self.selected[spec.expect]
            ):
                continue
            if self.inside_ok(a):
                out.append(Match(deadline, a, 0, a, {spec.after: a}, [a], ga, 1))
        return out


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and not (isinstance(v, float) and math.isnan(v))


# --- incidents -----------------------------------------------------------------------------------------------


def incident_id(rule_id: str, rule_version: int, key: str, opening_evidence: Sequence[str]) -> str:
    """Section 5, identity: "inc-" + BLAKE2b (10 bytes) over rule id, version, key and the opening match's
    evidence ids (canonical order), separated by \\x1f."""
    raw = "\x1f".join([rule_id, str(rule_version), key, *opening_evidence]).encode()
    return "inc-" + hashlib.blake2b(raw, digest_size=10).hexdigest()


@dataclass
class _Content:
    """What a version shows; a match that changes none of it makes no version."""

    event_ids: tuple[str, ...]
    event_count: int
    first_us: int
    last_us: int
    priority: int
    terms: tuple[tuple[str, int], ...]
    location: tuple[float, float] | None
    admin: Any
    title: str
    summary: str
    labels: tuple[tuple[str, str], ...]


@dataclass
class RefIncident:
    id: str
    key: str
    seq: int
    content: _Content
    group: str
    seen: set[str]
    updated: int  # the time of the latest match merged into it
    made: int  # the time of its latest version (Choices.version_time)
    shown: _Content  # the content of its latest version
    pending: bool = False
    closed: bool = False
    arrivals: list[UnitArrival] = field(default_factory=list)
    versions: list[Incident] = field(default_factory=list)


class Book:
    """The incidents of one rule: an event-time simulation of section 5, one item at a time, in order."""

    def __init__(self, rule: CRule, ruleset: RuleSet, choices: Choices):
        self.rule = rule
        self.choices = choices
        inc = rule.spec.incident
        self.merge_window = dur_us(inc.merge_window)
        within = rule.spec.correlate.within
        self.merge_within = inc.merge_within
        if self.merge_within is None and inc.key is None and within is not None:
            self.merge_within = within  # a spatial rule without a key
        ue = inc.update_every if inc.update_every is not None else ruleset.settings.update_every
        self.update_every = dur_us(ue)
        self.follow = inc.location == "latest"
        self.cap = rule.spec.limits.max_event_ids
        self.incidents: list[RefIncident] = []
        self.by_id: dict[str, RefIncident] = {}

    # contexts -----------------------------------------------------------------------------------------------
    def context(self, m: Match) -> dict[str, Any]:
        ctx: dict[str, Any] = {s.name: None for s in self.rule.selections}
        ctx.update({name: ev.rec for name, ev in m.bindings.items()})
        ctx["count"] = m.count
        ctx["distinct"] = m.distinct
        ctx["sum"] = m.sum
        ctx["group"] = group_text(m.group)
        spec = self.rule.spec.correlate
        if isinstance(spec, LookupSpec):
            ctx[spec.as_] = m.hit
            ctx["distance"] = m.distance
        return ctx

    # timers -------------------------------------------------------------------------------------------------
    def _due(self, inc: RefIncident) -> tuple[int, int]:
        """(time, 0 = close / 1 = pending version): closing includes a pending state due at the same time."""
        close = inc.updated + self.merge_window
        if inc.pending:
            flush = inc.made + self.update_every
            if flush < close or (flush == close and not self.choices.close_takes_pending):
                return (flush, 1)
        return (close, 0)

    def fire(self, before: int, inclusive: bool = False) -> None:
        """Every timer due before `before` (or at it, when inclusive), in time order."""
        early = self.choices.pending_first == "before"
        while True:
            best: tuple[int, int, int, RefIncident] | None = None
            for inc in self.incidents:
                if inc.closed:
                    continue
                due, kind = self._due(inc)
                now = inclusive or (early and kind == 1)
                if (due < before or (now and due <= before)) and (best is None or (due, -kind, inc.seq) < best[:3]):
                    best = (due, -kind, inc.seq, inc)
            if best is None:
                return
            due, kind, _, inc = best
            if kind == -1:
                upd = inc.updated if self.choices.pending_updated_time == "last_match" else due
                self._version(inc, "updated", made=due, updated_time=upd)
            else:
                self._close(inc, due)

    # items --------------------------------------------------------------------------------------------------
    def on_match(self, m: Match) -> None:
        rule = self.rule
        ctx = self.context(m)
        key = rule.key_template(ctx) if rule.key_template is not None else group_text(m.group)
        open_ = []
        for inc in self.incidents:
            if inc.closed or inc.key != key or m.time - inc.updated > self.merge_window:
                continue
            d = 0.0
            if self.merge_within is not None:
                loc = inc.content.location
                if loc is None or m.anchor.lat is None or m.anchor.lon is None:
                    continue
                d = distance_m(loc[0], loc[1], m.anchor.lat, m.anchor.lon)
                if d > self.merge_within:
                    continue
            elif inc.content.location is not None and m.anchor.lat is not None and m.anchor.lon is not None:
                loc = inc.content.location
                d = distance_m(loc[0], loc[1], m.anchor.lat, m.anchor.lon)
            open_.append((d, inc.seq, inc))
        terms = [t for t in rule.terms if truthy(t.when(ctx))]
        base = rule.spec.incident.priority.base
        priority = min(5, max(1, base + sum(t.delta for t in terms)))
        term_pairs = tuple((t.name, t.delta) for t in terms)
        anchor_loc = (m.anchor.lat, m.anchor.lon) if m.anchor.lat is not None and m.anchor.lon is not None else None
        title, summary = rule.title(ctx), rule.summary(ctx)
        labels = tuple((name, fn(ctx)) for name, fn in rule.labels)
        ev_ids = [e.id for e in m.evidence]
        if not open_:
            inc_id = incident_id(rule.id, rule.version, key, ev_ids)
            content = _Content(
                event_ids=tuple(ev_ids[: self.cap]),
                event_count=len(ev_ids),
                first_us=min(e.us for e in m.evidence),
                last_us=max(e.us for e in m.evidence),
                priority=priority,
                terms=term_pairs,
                location=anchor_loc,
                admin=m.anchor.rec.admin,
                title=title,
                summary=summary,
                labels=labels,
            )
            inc = RefIncident(
                inc_id, key, len(self.incidents), content, group_text(m.group), set(ev_ids), m.time, m.time, content
            )
            if inc_id in self.by_id:
                raise AssertionError(f"two incidents of {rule.id} with one opening match: {inc_id}")
            self.incidents.append(inc)
            self.by_id[inc_id] = inc
            self._version(inc, "open", made=m.time, updated_time=m.time)
            return
        inc = min(open_, key=lambda c: (c[0], c[1]))[2]
        before = inc.content
        ids = list(before.event_ids)
        count = before.event_count
        for e in m.evidence:
            if e.id not in inc.seen:
                inc.seen.add(e.id)
                count += 1
                if len(ids) < self.cap:
                    ids.append(e.id)
        escalated = priority < before.priority
        location, admin = before.location, before.admin
        if self.follow and (anchor_loc is not None or not self.choices.latest_location_skips_missing):
            location, admin = anchor_loc, m.anchor.rec.admin
        after = _Content(
            event_ids=tuple(ids),
            event_count=count,
            first_us=min(before.first_us, *(e.us for e in m.evidence)),
            last_us=max(before.last_us, *(e.us for e in m.evidence)),
            priority=priority if escalated else before.priority,
            terms=term_pairs if escalated else before.terms,
            location=location,
            admin=admin,
            title=title,
            summary=summary,
            labels=labels,
        )
        inc.content = after
        inc.group = group_text(m.group)
        inc.updated = m.time
        if escalated:
            self._version(inc, "escalated", made=m.time, updated_time=m.time)
        elif after != before:
            if m.time >= inc.made + self.update_every:
                self._version(inc, "updated", made=m.time, updated_time=m.time)
            else:
                inc.pending = True

    def on_dispatch_close(self, ev: Ev) -> None:
        inc = self.by_id.get(ev.rec.data.incident_id)
        if inc is not None and not inc.closed:
            self._close(inc, max(ev.us, inc.made), by_dispatcher=True)  # a close before the raising: right after it

    def on_arrival(self, ev: Ev) -> None:
        data = ev.rec.data
        inc = self.by_id.get(data.assigned_incident)
        if inc is None or inc.closed or any(a.unit_id == data.unit_id for a in inc.arrivals):
            return
        first = inc.content.first_us
        inc.arrivals.append(
            UnitArrival(
                unit_id=data.unit_id,
                unit_type=UnitType(data.unit_type),
                arrived_time=from_us(ev.us),
                time_to_arrive_s=max(0.0, (ev.us - first) / 1e6),
            )
        )
        inc.arrivals.sort(key=lambda a: (a.arrived_time, a.unit_id))
        at = max(ev.us, inc.made)  # an arrival reported before the incident was raised counts from the raising
        upd = at if self.choices.arrival_updated_time == "arrival" else inc.updated
        self._version(inc, "updated", made=at, updated_time=upd)

    def _close(self, inc: RefIncident, at: int, by_dispatcher: bool = False) -> None:
        upd = at if self.choices.close_updated_time == "close" else inc.updated
        reason = "closed by dispatcher" if by_dispatcher else "no new events within the merge window"
        self._version(inc, "closed", made=at, updated_time=upd, close_reason=reason)
        inc.closed = True

    def _version(
        self, inc: RefIncident, status: str, made: int, updated_time: int, close_reason: str | None = None
    ) -> None:
        c = inc.content
        rule = self.rule
        version = Incident(
            id=inc.id,
            version=len(inc.versions) + 1,
            rule_id=rule.id,
            rule_version=rule.version,
            category=rule.category,
            status=status,  # type: ignore[arg-type]
            priority=c.priority,
            priority_base=rule.spec.incident.priority.base,
            priority_terms=[PriorityTerm(name=n, delta=d) for n, d in c.terms],
            title=c.title,
            summary=c.summary,
            key=inc.key,
            group=inc.group,
            location=GeoPoint(lat=c.location[0], lon=c.location[1]) if c.location is not None else None,
            admin=_admin(c.admin),
            first_time=from_us(c.first_us),
            last_time=from_us(c.last_us),
            updated_time=from_us(updated_time),
            event_ids=list(c.event_ids),
            event_count=max(1, c.event_count),
            labels=dict(c.labels),
            playbook=list(rule.playbook),
            close_reason=close_reason,
            arrivals=list(inc.arrivals),
            time_to_arrive_s=inc.arrivals[0].time_to_arrive_s if inc.arrivals else None,
        )
        inc.versions.append(version)
        inc.shown = c
        inc.pending = False
        inc.made = made if self.choices.version_time == "made" else updated_time


def _admin(rec: Any) -> AdminPath | None:
    if rec is None:
        return None
    return AdminPath(republic=rec.republic, region=rec.region, city=rec.city, district=rec.district)


# --- the whole run -------------------------------------------------------------------------------------------


@dataclass
class Result:
    """Per rule, every incident's versions (1, 2, ...); `final` is the latest version of each id."""

    versions: dict[str, list[Incident]]
    rules: dict[str, list[str]]  # rule id -> incident ids, in the order they opened
    matches: dict[str, list[Match]]

    @property
    def final(self) -> dict[str, Incident]:
        return {i: vs[-1] for i, vs in self.versions.items()}


def incident_event(version: Incident) -> Ev:
    """Section 6: a version as an event: id `<incident id>@<version>`, time `updated_time`, its location."""
    event = IncidentEvent(
        id=f"{version.id}@{version.version}",
        source=f"saqshy/rules/{version.rule_id}",
        time=version.updated_time,
        location=version.location,
        admin=version.admin,
        data=version,
    )
    return ev_of(record_from_model(event))


def rule_order(rules: Sequence[CRule]) -> list[CRule]:
    """Rules that others chain on first (a plain topological sort, ties by id)."""
    out: list[CRule] = []
    placed: set[str] = set()
    pending = sorted(rules, key=lambda r: r.id)
    while pending:
        ready = [r for r in pending if r.depends_on <= placed]
        if not ready:
            raise AssertionError("rules chain in a cycle")
        out.append(ready[0])
        placed.add(ready[0].id)
        pending.remove(ready[0])
    return out


def run_reference(ruleset: RuleSet, records: Iterable[Any], choices: Choices = DEFAULT_CHOICES) -> Result:
    """The incidents docs/semantics.md gives for these events (any order, duplicates allowed).

    `ruleset` should be loaded for this run alone: zones are applied to its reference store (the compiled
    `in_zone` of its expressions reads them)."""
    events = canonical(records)
    zones = Zones()
    for ev in events:
        if ev.type == "ref.zone":
            zones.apply(ev)
            ruleset.reference.zones.apply(ev.rec.data, bool(getattr(ev.rec, "deleted", False)))
    hotlist = Hotlist([e for e in events if e.type == "ref.hotlist"])
    closes = [e for e in events if e.type == "dispatch.action" and e.rec.data.action == "close"]
    arrivals = [
        e for e in events if e.type == "unit.gps" and e.rec.data.status == "on_scene" and e.rec.data.assigned_incident
    ]
    chained: list[Ev] = []  # incident versions of the rules run so far, as events
    result = Result({}, {}, {})
    for rule in rule_order(ruleset.rules):
        pool = events
        if any(s.event_type == "incident" for s in rule.selections):
            # section 6: the versions of the rules it chains on (named, or for a rule that names none, every rule
            # whose incidents are sent, as the loader resolved them into depends_on)
            mine = [c for c in chained if c.rec.data.rule_id in rule.depends_on]
            pool = sorted([*events, *mine], key=lambda e: e.key)
        ev = RuleEval(rule, pool, zones, ruleset, choices)
        matches = ev.matches(hotlist)
        result.matches[rule.id] = matches
        book = Book(rule, ruleset, choices)
        # (time, class, ...): a dispatch close or a unit arrival before the matches it triggers itself
        items: list[tuple[tuple[int, int, str, int, int], Any]] = []
        # section 4, cooccur: a trigger's match with the same evidence as an earlier one of it is that match
        firsts: dict[tuple[int, str, tuple[str, ...]], int] = {}
        unique = []
        for m in sorted(matches, key=lambda m: m.order):
            ident = (m.trigger.us, m.trigger.id, tuple(e.id for e in m.evidence))
            if ident not in firsts:
                firsts[ident] = 1
                unique.append(m)
        matches = unique
        for i, m in enumerate(matches):
            if m.time != m.trigger.us:  # an absence's deadline: made by time passing, after the events at it
                items.append(((m.time, m.time, f"\U0010ffff{m.trigger.us:020d}\x00{m.trigger.id}", 1, i), m))
            else:
                items.append(((m.time, m.trigger.us, m.trigger.id, 1, i), m))
        for e in closes:
            items.append(((e.us, e.us, e.id, 0, 0), ("close", e)))
        for e in arrivals:
            items.append(((e.us, e.us, e.id, 0, 1), ("arrive", e)))
        items.sort(key=lambda it: it[0])
        # section 5: an action naming an incident raised at its time or within the allowed lateness after it
        # takes effect right after the raising
        orphans: dict[str, list[tuple[str, Ev]]] = {}
        lateness = dur_us(rule.lateness)

        def act(kind: str, e: Ev, book: Book = book) -> None:
            if kind == "close":
                book.on_dispatch_close(e)
            else:
                book.on_arrival(e)

        for (t, *_), item in items:
            book.fire(t)
            if isinstance(item, Match):
                known = set(book.by_id)
                book.on_match(item)
                for inc_id in set(book.by_id) - known:
                    raised = book.by_id[inc_id].versions[0].updated_time
                    for kind, e in orphans.pop(inc_id, []):
                        if to_us(raised) - e.us <= lateness:
                            act(kind, e)
            else:
                kind, e = item
                target = e.rec.data.incident_id if kind == "close" else e.rec.data.assigned_incident
                if target not in book.by_id:
                    orphans.setdefault(target, []).append((kind, e))
                else:
                    act(kind, e)
        book.fire(INF, inclusive=True)
        result.rules[rule.id] = [inc.id for inc in book.incidents] if rule.spec.emit else []
        for inc in book.incidents:
            if rule.spec.emit:  # an internal rule's (emit: false) incidents are inputs of chains, never sent
                result.versions[inc.id] = inc.versions
            chained.extend(incident_event(v) for v in inc.versions)
    return result


# --- comparing with an engine's output -----------------------------------------------------------------------

FIELDS = (
    "id",
    "rule_id",
    "key",
    "status",
    "priority",
    "priority_terms",
    "event_ids",
    "event_count",
    "first_time",
    "last_time",
    "updated_time",
    "location",
    "title",
    "labels",
)


def project(inc: Incident, with_version: bool = False) -> dict[str, Any]:
    """The compared fields of an incident (version numbers only when asked)."""
    out: dict[str, Any] = {
        "id": inc.id,
        "rule_id": inc.rule_id,
        "key": inc.key,
        "status": str(inc.status),
        "priority": inc.priority,
        "priority_terms": [t.name for t in inc.priority_terms],
        "event_ids": list(inc.event_ids),
        "event_count": inc.event_count,
        "first_time": inc.first_time.isoformat(),
        "last_time": inc.last_time.isoformat(),
        "updated_time": inc.updated_time.isoformat(),
        "location": (inc.location.lat, inc.location.lon) if inc.location is not None else None,
        "title": inc.title,
        "labels": dict(inc.labels),
    }
    if with_version:
        out["version"] = inc.version
    return out


def consumer_view(updates: Iterable[Incident]) -> dict[str, Incident]:
    """What a consumer keeps: the highest version per id, ids whose latest status is retracted dropped."""
    best: dict[str, Incident] = {}
    for u in updates:
        if u.id not in best or u.version > best[u.id].version:
            best[u.id] = u
    return {i: u for i, u in best.items() if str(u.status) != "retracted"}


def histories(updates: Iterable[Incident]) -> dict[str, list[Incident]]:
    out: dict[str, list[Incident]] = {}
    for u in updates:
        out.setdefault(u.id, []).append(u)
    return out


def brief(inc: Incident) -> str:
    """One line for a version: v, status, priority, evidence, times (hh:mm:ss.ffffff), title."""
    t = [x.strftime("%H:%M:%S.%f").rstrip("0").rstrip(".") for x in (inc.first_time, inc.last_time, inc.updated_time)]
    return (
        f"v{inc.version} {inc.status} p{inc.priority} ids={list(inc.event_ids)} n={inc.event_count}"
        f" first={t[0]} last={t[1]} updated={t[2]} title={inc.title!r}"
    )


def _fields(e: dict[str, Any], a: dict[str, Any]) -> dict[str, Any]:
    return {k: (e.get(k), a.get(k)) for k in e.keys() | a.keys() if e.get(k) != a.get(k)}


def diff_final(expected: dict[str, Incident], actual: dict[str, Incident]) -> list[str]:
    """Readable differences between two final incident sets (empty when equal)."""
    problems = []
    for i in sorted(set(expected) | set(actual)):
        if i not in actual:
            problems.append(f"missing {i} {expected[i].rule_id} key={expected[i].key!r}: {brief(expected[i])}")
        elif i not in expected:
            problems.append(f"unexpected {i} {actual[i].rule_id} key={actual[i].key!r}: {brief(actual[i])}")
        else:
            e, a = project(expected[i]), project(actual[i])
            if e != a:
                problems.append(f"{i} ({e['rule_id']} key={e['key']!r}) (expected, actual): {_fields(e, a)}")
    return problems


def diff_histories(expected: dict[str, list[Incident]], actual: dict[str, list[Incident]]) -> list[str]:
    """Per id, the versions that differ (all fields of FIELDS and the version number)."""
    problems = []
    for i in sorted(set(expected) | set(actual)):
        ev, av = expected.get(i, []), actual.get(i, [])
        ep, ap = [project(v, True) for v in ev], [project(v, True) for v in av]
        if ep == ap:
            continue
        rule = (ev or av)[0].rule_id
        lines = [f"{i} ({rule}): versions differ"]
        lines += ["  expected " + brief(v) for v in ev] or ["  expected: no such incident"]
        lines += ["  actual   " + brief(v) for v in av] or ["  actual: no such incident"]
        first = next((n for n, (x, y) in enumerate(zip(ep, ap, strict=False)) if x != y), None)
        if first is not None:
            lines.append(f"  first difference, v{first + 1} (expected, actual): {_fields(ep[first], ap[first])}")
        problems.append("\n".join(lines))
    return problems


def with_choices(choices: Choices, **changes: Any) -> Choices:
    return replace(choices, **changes)


__all__ = [
    "DEFAULT_CHOICES",
    "FIELDS",
    "Choices",
    "Ev",
    "HotlistEntry",
    "Match",
    "Result",
    "canonical",
    "consumer_view",
    "diff_final",
    "diff_histories",
    "distance_m",
    "histories",
    "incident_id",
    "project",
    "records_from_lines",
    "run_reference",
    "with_choices",
]
