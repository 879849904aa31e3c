"""Core snapshots: the whole state of a Correlator as versioned JSON, including what a late event needs after a
restore (each rule's recent inputs, timer firings, canonical versions and undo journal), so a restarted worker
corrects exactly as the one that stopped would have.

Events are written once, in a table by id; entries, items and incidents refer to them. Rules are keyed by
(id, version): a rule whose version changed starts clean, a removed rule's state is dropped.
"""

from __future__ import annotations

import heapq
from typing import TYPE_CHECKING, Any

import msgspec
import orjson

from rules.core.book import OpenIncident, shown
from rules.core.buffer import Entry
from rules.core.rule import Firing, Item, RuleRuntime
from rules.errors import CoreError
from rules.records import record_from_builtins, record_to_builtins, struct_of
from schemas import AdminPath, HotlistEntry, Incident, UnitArrival

if TYPE_CHECKING:
    from rules.core.engine import Correlator

SNAPSHOT_FORMAT = "saqshy.core.snapshot"
SNAPSHOT_VERSION = 2


def _f(x: float) -> float | str:
    return x if x == x and x not in (float("inf"), float("-inf")) else repr(x)


def _uf(x: float | str) -> float:
    return float(x)


class _Writer:
    def __init__(self) -> None:
        self.events: dict[str, Any] = {}

    def ev(self, record: Any) -> str:
        if record.id not in self.events:
            self.events[record.id] = record_to_builtins(record)
        return str(record.id)

    def value(self, v: Any) -> Any:
        """A context value: an event record, a reference record, an admin path or a plain value."""
        if v is None or isinstance(v, bool | int | float | str):
            return ["v", _f(v) if isinstance(v, float) else v]
        if hasattr(v, "type") and hasattr(v, "id") and hasattr(v, "time"):
            return ["ev", self.ev(v)]
        if isinstance(v, struct_of(HotlistEntry)):
            return ["hit", record_to_builtins(v)]
        raise CoreError(f"cannot snapshot a match context value of type {type(v).__name__}")

    def fields(self, inc: OpenIncident, values: tuple[Any, ...]) -> list[Any]:
        (lat, lon, admin, updated, first_ts, last_ts, priority, terms, ctx, group, version, state, made_at,
         pending, event_count, arrivals, closed, alarm, acked) = values  # fmt: skip
        return [
            lat, lon,
            None if admin is None else {k: getattr(admin, k) for k in ("republic", "region", "city", "district")},
            _f(updated), _f(first_ts), _f(last_ts), priority, [list(t) for t in terms],
            {k: self.value(v) for k, v in shown(ctx).items()}, group, version,
            None if state is None else state.model_dump(mode="json"), _f(made_at), pending, event_count,
            [a.model_dump(mode="json") for a in arrivals], closed, alarm, None if acked is None else _f(acked),
        ]  # fmt: skip


class _Reader:
    def __init__(self, events: dict[str, Any]):
        self.events = {k: record_from_builtins(v) for k, v in events.items()}

    def value(self, v: list[Any]) -> Any:
        tag = v[0]
        if tag == "v":
            x = v[1]
            return _uf(x) if isinstance(x, str) and x in ("inf", "-inf", "nan") else x
        if tag == "ev":
            return self.events[v[1]]
        return msgspec.convert(v[1], struct_of(HotlistEntry))

    def fields(self, raw: list[Any]) -> tuple[Any, ...]:
        if len(raw) == 18:  # written before acknowledgements were kept: none known
            raw = [*raw, None]
        (lat, lon, admin, updated, first_ts, last_ts, priority, terms, ctx, group, version, state, made_at,
         pending, event_count, arrivals, closed, alarm, acked) = raw  # fmt: skip
        return (
            lat, lon, None if admin is None else AdminPath(**admin), _uf(updated), _uf(first_ts), _uf(last_ts),
            priority, tuple((str(n), int(d)) for n, d in terms), {k: self.value(x) for k, x in ctx.items()}, group,
            version, None if state is None else Incident.model_validate(state), _uf(made_at), pending, event_count,
            tuple(UnitArrival.model_validate(a) for a in arrivals), closed, alarm,
            None if acked is None else _uf(acked),
        )  # fmt: skip


def _dump_rule(rt: RuleRuntime, w: _Writer) -> dict[str, Any]:
    book = rt.book
    incidents = [
        [inc.id, inc.key, inc.owned, [inc.opened[0], list(inc.opened[1])], list(inc.event_ids), sorted(inc.seen),
         w.fields(inc, inc.fields())]
        for inc in book.by_id.values()
    ]  # fmt: skip
    known = set(book.by_id)
    ops: list[Any] = []
    for op in rt.journal.ops:
        code = op[0]
        if code in ("fields", "evidence", "open") and op[1].id not in known:
            ops.append(["noop"])  # an incident forgotten since: no rollback can reach this record
        elif code == "fields":
            ops.append(["fields", op[1].id, w.fields(op[1], op[2])])
        elif code == "evidence":
            ops.append(["evidence", op[1].id, list(op[2]), op[3]])
        elif code == "open":
            ops.append(["open", op[1].id])
        elif code == "timer":
            ops.append(["timer", list(op[1])])
        elif code == "orphan":
            ops.append(["orphan", op[1]])
        elif code == "adopted":
            ops.append(["adopted", op[1], [_item(it, w) for it in op[2]]])
        else:
            ops.append([code])
    groups = {}
    if rt.kind.stateful:
        for g, state in rt.groups.items():
            groups[g] = [[[w.ev(e.ev), e.ts, e.sel, e.replica] for e in buf.live()] for buf in state]
    items = [_item(it, w) for it in rt.items]
    return {
        "groups": groups,
        "items": items,
        "firings": [[f.key[0], f.seq, f.mark, f.out] for f in rt.firings],
        "max_fired": rt._max_fired[0] if rt._max_fired is not None else None,
        "outputs": [[seq, u.model_dump(mode="json")] for seq, u in rt.outputs],
        "out_base": rt.out_base,
        "incidents": incidents,
        "journal": [rt.journal.base, ops],
        "orphans": {inc_id: [_item(it, w) for it in waiting] for inc_id, waiting in rt.orphans.items()},
        "counters": [rt.seq, rt.matches, rt.rewinds, rt.overflow_keys, rt.kind.overflow, rt.evicted_ttl],
    }


def _item(it: Item, w: _Writer) -> list[Any]:
    return [
        w.ev(it.ev), it.ts, [list(p) for p in it.sels], it.replica, list(it.action) if it.action else None,
        it.seq, it.mark, it.out, it.matches, list(it.key), it.orphaned,
    ]  # fmt: skip


def _read_item(raw: list[Any], r: _Reader) -> Item:
    eid, ts, sels, replica, action, seq, mark, out, matches, key, orphaned = raw
    item = Item(r.events[eid], float(ts), tuple((int(s), str(g)) for s, g in sels), bool(replica),
                tuple(action) if action else None)  # fmt: skip
    item.seq, item.mark, item.out, item.matches = int(seq), int(mark), int(out), int(matches)
    item.key = (float(key[0]), str(key[1]))
    item.orphaned = int(orphaned)
    return item


def dump_core(core: Correlator) -> bytes:
    w = _Writer()
    rules = {key: _dump_rule(rt, w) for key, rt in core.runtimes.items()}
    doc = {
        "format": SNAPSHOT_FORMAT,
        "version": SNAPSHOT_VERSION,
        "watermark": _f(core.watermark),
        "next_sweep": _f(core._next_sweep),
        "rules": rules,
        "seen": core.seen_entries(),
        "reference": [[ts, record_to_builtins(ev)] for ts, ev in core.reference.applied()],
        "timers": [list(t) for t in core.timers._heap],
        "sent": {k: u.model_dump(mode="json") for k, u in core.sent.items()},
        "stats": [core.stats.events, core.stats.duplicates],
        # chained rules' inputs waiting for the watermark, and actions naming an incident no rule raised yet
        "chained": [[c[3].rule.state_key, c[2], _item(c[4], w)] for c in sorted(core._chained)],
        "orphans": {inc_id: [_item(it, w) for it in items] for inc_id, items in core._orphans.items()},
        "events": w.events,
    }
    return orjson.dumps(doc)


def _load_rule(rt: RuleRuntime, state: dict[str, Any], r: _Reader) -> None:
    book = rt.book
    for inc_id, key, owned, opened, event_ids, seen, fields in state["incidents"]:
        inc = OpenIncident(inc_id, key, owned, (opened[0], tuple(opened[1])))
        inc.set_fields(r.fields(fields))
        inc.event_ids = list(event_ids)
        inc.seen = set(seen)
        book.by_id[inc_id] = inc
        book.by_key.setdefault(key, []).append(inc)
    for peers in book.by_key.values():
        peers.sort(key=lambda i: i.opened)
    entries: dict[tuple[str, int], Entry] = {}
    if rt.kind.stateful:
        for g, bufs in state["groups"].items():
            group_state = rt.kind.new_group()
            for buf, refs in zip(group_state, bufs, strict=True):
                for eid, ts, sel, replica in refs:
                    entry = Entry(r.events[eid], float(ts), int(sel), bool(replica), g)
                    buf.add(entry)
                    entries[(eid, int(sel))] = entry
            rt.groups[g] = group_state
        rt.reindex_expiry()
    for raw in state["items"]:
        item = _read_item(raw, r)
        eid = item.ev.id
        for s, g in item.sels:
            item.entries.append(entries.get((eid, s)) or Entry(item.ev, item.ts, s, item.replica, g))
        rt.items.append(item)
        rt._item_seqs.append(item.seq)
    rt.firings = [Firing((float(k), "\U0010ffff"), int(s), int(m), int(o)) for k, s, m, o in state["firings"]]
    rt.orphans = {k: [_read_item(x, r) for x in v] for k, v in state.get("orphans", {}).items()}
    fired = state.get("max_fired")
    rt._max_fired = (float(fired), "\U0010ffff") if fired is not None else None
    rt.outputs = [(int(seq), Incident.model_validate(u)) for seq, u in state["outputs"]]
    rt.out_base = int(state.get("out_base", 0))  # older snapshots renumbered positions from 0 at each sweep
    base, ops = state["journal"]
    rt.journal.base = int(base)
    for op in ops:
        code = op[0]
        if code == "fields":
            rt.journal.ops.append(("fields", book.by_id[op[1]], r.fields(op[2])))
        elif code == "evidence":
            rt.journal.ops.append(("evidence", book.by_id[op[1]], list(op[2]), int(op[3])))
        elif code == "open":
            rt.journal.ops.append(("open", book.by_id[op[1]]))
        elif code == "timer":
            ts, owner, kind, ref = op[1]
            rt.journal.ops.append(("timer", (float(ts), owner, kind, ref)))
        elif code == "orphan":
            rt.journal.ops.append(("orphan", op[1]))
        elif code == "adopted":
            rt.journal.ops.append(("adopted", op[1], [_read_item(x, r) for x in op[2]]))
        else:
            rt.journal.ops.append((code,))
    for i, op in enumerate(rt.journal.ops):
        if op[0] in ("fields", "evidence", "open"):
            op[1].touched = rt.journal.base + i  # as when recorded: forgotten only once trimmed
    counters = [int(x) for x in state["counters"]] + [0]  # snapshots before evicted_ttl have five
    rt.seq, rt.matches, rt.rewinds, rt.overflow_keys, rt.kind.overflow, rt.evicted_ttl = counters[:6]


def load_core(core: Correlator, data: bytes) -> None:
    try:
        doc = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise CoreError(f"not a core snapshot: {exc}") from None
    if not isinstance(doc, dict) or doc.get("format") != SNAPSHOT_FORMAT:
        raise CoreError("not a core snapshot (missing format marker)")
    if doc.get("version") != SNAPSHOT_VERSION:
        raise CoreError(f"snapshot version {doc.get('version')} is not supported (this core reads {SNAPSHOT_VERSION})")
    core.watermark = _uf(doc["watermark"])
    core._next_sweep = _uf(doc["next_sweep"])
    core.reference.reset()  # the snapshot holds every table in force: what the store had is replaced, not added to
    for ts, ref_event in doc.get("reference", []):
        core.reference.apply(record_from_builtins(ref_event), float(ts))
    r = _Reader(doc["events"])
    for key, state in doc["rules"].items():
        rt = core.runtimes.get(key)
        if rt is not None:  # else the rule changed version or was removed: its old state is dropped
            _load_rule(rt, state, r)
    core.timers._heap = [(float(t), o, k, ref) for t, o, k, ref in doc["timers"] if o in core._by_owner]
    heapq.heapify(core.timers._heap)
    core.sent = {k: Incident.model_validate(u) for k, u in doc["sent"].items()}
    core.reindex_sent()
    core.restore_seen(doc["seen"])
    core.stats.events, core.stats.duplicates = doc["stats"]
    core._chained, core._orphans = [], {}
    for state_key, depth, raw in doc.get("chained", []):
        rt = core.runtimes.get(state_key)
        if rt is not None:
            core._pend(rt, _read_item(raw, r), int(depth))
    for inc_id, items in doc.get("orphans", {}).items():
        core._orphans[inc_id] = [_read_item(x, r) for x in items]
