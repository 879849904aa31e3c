"""One rule at run time: its kind's buffers, its incident book, and what it needs to go back in time.

The rule is a deterministic function of its inputs in canonical order (docs/semantics.md). Inputs that come
in order are applied at once. One that comes after inputs later than itself makes the rule go back to the
first operation past its place (journal undo for the book, buffer pops for the kind, timer firings re-armed)
and redo everything from there in canonical order. The caller compares the canonical versions made before and
after (`Rewind`) to send corrections and to feed chained rules.

Operations are item applications (events routed to the rule, dispatcher actions) and timer firings, numbered
by `seq` in the order they ran. Items run in canonical order; a timer fires when the watermark passes it,
possibly after items later than itself, which is harmless (its effect does not depend on later items) but
means a rollback must also undo firings whose time is past the late item's place.
"""

from __future__ import annotations

import heapq
from bisect import bisect_left, bisect_right
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from rules.compiler import CRule
from rules.core.book import IncidentBook
from rules.core.buffer import Entry, Key
from rules.core.journal import Journal, Op
from rules.core.kinds import KINDS
from rules.core.match import Match
from rules.core.reference import ReferenceStore
from rules.core.timers import Timers
from schemas import Incident

TIMER_TIE = "\U0010ffff"  # a timer at time t runs after every event at t
# Timer kinds, named so that at one time a kind's deadlines (they make matches) come before pending versions,
# and those before closings (a match exactly at the closing time still joins).
MATCH_TIMER = "1:match"  # the book's are "2:flush" and "3:close" (rules/core/book.py)


class Item:
    """One input of a rule: an event with the selections that took it, or a dispatcher action."""

    __slots__ = (
        "action", "entries", "ev", "key", "mark", "matches", "orphaned", "out", "replica", "sels", "seq", "ts"
    )  # fmt: skip

    def __init__(
        self,
        ev: Any,
        ts: float,
        sels: tuple[tuple[int, str], ...],
        replica: bool = False,
        action: tuple[Any, ...] | None = None,
    ):
        self.ev = ev
        self.ts = ts
        self.key: Key = (ts, ev.id)
        self.sels = sels  # (selection index, group) pairs, in selection order
        self.replica = replica
        # ("close", incident id), ("ack", incident id) or ("arrive", incident id, unit id, unit type)
        self.action = action
        self.entries: list[Entry] = []
        self.seq = -1
        self.mark = 0
        self.out = 0
        self.matches = 0
        self.orphaned = 0  # journal mark when it started waiting for its incident


@dataclass(slots=True)
class Firing:
    key: Key
    seq: int
    mark: int
    out: int


@dataclass
class Rewind:
    """What one correction changed: the canonical versions undone and the ones made instead."""

    old: list[Incident] = field(default_factory=list)
    new: list[Incident] = field(default_factory=list)


class RuleRuntime:
    def __init__(
        self,
        rule: CRule,
        reference: ReferenceStore,
        timers: Timers,
        accept_lateness: float,
        update_every: float,
        depth: int = 0,
    ):
        self.rule = rule
        self.timers = timers
        self.depth = depth  # 0: on events; n + 1: chains on rules of depth n at most
        self.owner = f"{depth:02d}:{rule.state_key}"  # timers at equal times fire upstream first
        self.accept = accept_lateness  # how far behind the watermark an input is still taken
        self.journal = Journal()
        self.kind = KINDS[rule.spec.correlate.kind](rule, reference, self._schedule_kind)
        self.book = IncidentBook(rule, self.journal, self._schedule_book, accept_lateness, update_every)
        self.groups: OrderedDict[str, Any] = OrderedDict()
        # When each group may next have something to expire: a heap of (time, group) with, per group, a time
        # at or before its oldest entry (`_due` holds the smallest pushed), so a sweep visits only the groups
        # it changes instead of every group (an ANPR rule keyed by plate holds tens of thousands).
        self._expiry: list[tuple[float, str]] = []
        self._due: dict[str, float] = {}
        self.items: list[Item] = []  # canonical order, seq increasing along the list
        self.firings: list[Firing] = []  # seq order
        self.outputs: list[tuple[int, Incident]] = []  # (seq of the operation, canonical version)
        # Items and firings hold positions in `outputs` counted from the rule's start: a sweep that forgets
        # outputs from the front moves this base instead of renumbering every item it keeps.
        self.out_base = 0
        self.seq = 0
        self.matches = 0  # canonical matches (undone with their items)
        self.rewinds = 0
        self.overflow_keys = 0
        self.evicted_ttl = 0  # buffered entries dropped by a configured limits.state_ttl before the windows did
        self._item_seqs: list[int] = []  # seq of each item, for bisect
        self._replay_due: list[tuple[float, str, str, str]] | None = None  # during a rewind: timers already due
        self._replay_wm = float("-inf")
        self._replay_upto: Key = (float("-inf"), "")
        self._max_fired: Key | None = None
        self.orphans: dict[str, list[Item]] = {}  # actions waiting for the incident they name to be raised
        # the engine's actions that named an incident no rule knew yet (Correlator._orphans) and come before its
        # raising: taken by the rule that raises it at the raising itself, so they apply right after it as
        # section 5 says (fed later, they would rewind the rule: a correction on sorted input)
        self.take_shared: Callable[[str, Key], list[Item] | None] | None = None

    @property
    def last_key(self) -> Key | None:
        """The canonical position this rule has run up to: its last item, or a timer fired past it (a timer
        fires after every event at its time, so an event at a due timer's time is already out of order)."""
        last = self.items[-1].key if self.items else None
        fired = self._max_fired
        if fired is not None and (last is None or fired > last):
            return fired
        return last

    # --- timers ------------------------------------------------------------------------------------
    def _schedule_kind(self, ts: float, group: str, ref: str) -> None:
        self._schedule(ts, MATCH_TIMER, f"{group}\x1e{ref}")

    def _schedule_book(self, ts: float, kind: str, ref: str) -> None:
        self._schedule(ts, kind, ref)

    def _schedule(self, ts: float, kind: str, ref: str) -> None:
        local = self._replay_due
        if local is not None and ts < self._replay_wm and (ts, TIMER_TIE) <= self._replay_upto:
            heapq.heappush(local, (ts, self.owner, kind, ref))  # due already: fired at its place in the replay
        else:
            self.timers.register(ts, self.owner, kind, ref)

    # --- operations --------------------------------------------------------------------------------
    def apply(self, item: Item) -> list[Incident]:
        """An item in canonical order (its key after every item so far): run it, return the versions made."""
        self._begin(item)
        book = self.book
        kind = self.kind
        if item.action is not None:
            self._act(item)
        stateful = kind.stateful
        seen: list[list[str]] | None = [] if len(item.sels) > 1 else None
        for sel, group in item.sels:
            state = self._group(group, item.ts) if stateful else None
            entry = Entry(item.ev, item.ts, sel, item.replica, group)
            item.entries.append(entry)
            kind.add(state, entry)
            for m in kind.trigger(state, entry):
                if seen is not None:
                    evidence = [e.ev.id for e in m.evidence]
                    if evidence in seen:
                        continue  # the same events through another selection: one match (the first)
                    seen.append(evidence)
                item.matches += 1
                book.on_match(m)
        self._adopt(item.key)
        self.matches += item.matches
        return self._drain(item.seq)

    def _begin(self, item: Item) -> None:
        item.seq = self.seq
        self.seq += 1
        item.mark = self.journal.mark()
        item.out = self.out_base + len(self.outputs)
        self.items.append(item)
        self._item_seqs.append(item.seq)

    def _act(self, item: Item) -> None:
        """A dispatcher's close or a unit's arrival. One naming an incident not raised yet waits for the raising
        (docs/semantics.md, section 5: actions before their incident)."""
        action, ts = item.action, item.ts
        assert action is not None
        if action[1] not in self.book.by_id:
            self.orphans.setdefault(action[1], []).append(item)
            item.orphaned = self.journal.mark()  # once the journal is trimmed past this, no rollback needs it
            self.journal.add(("orphan", action[1]))
            return
        if action[0] == "close":
            self.book.close(action[1], ts)
        elif action[0] == "arrive":
            self.book.arrive(action[1], action[2], action[3], ts)
        elif action[0] == "ack":
            self.book.ack(action[1], ts)

    def _adopt(self, at_key: Key) -> None:
        """Right after the operation at `at_key` raised incidents that actions were waiting for: those actions
        that come before it, in their own canonical order, when the raising is at most the allowed lateness after
        them. (The rule's own waiting actions all come before it: they ran before it.)"""
        raised = self.book.take_raised()
        if not raised:
            return
        take = self.take_shared
        for inc_id, at in raised:
            waiting = self.orphans.pop(inc_id, None) if self.orphans else None
            shared = take(inc_id, at_key) if take is not None else None
            if shared:
                mark = self.journal.mark()  # kept by a rollback like the rule's own orphans from here on
                for item in shared:
                    item.orphaned = mark
            # Kept for the undo in the order that undoing the rule's own "orphan" records needs: each takes
            # the last one back, so the rule's own waiting actions (in the order they came) go last.
            pending = [*(shared or ()), *(waiting or ())]
            if not pending:
                continue
            self.journal.add(("adopted", inc_id, pending))
            # applied in canonical order: after a rollback, a redo appends actions to those the undo gave back,
            # whatever their times
            for item in sorted(pending, key=lambda it: it.key):
                if at - item.ts <= self.rule.lateness:
                    self._act(item)

    def _group(self, group: str, ts: float) -> Any:
        """The state of `group`, about to take an entry at `ts`."""
        state = self.groups.get(group)
        if state is None:
            if len(self.groups) >= self.rule.spec.limits.max_keys:
                evicted, _ = self.groups.popitem(last=False)  # a state limit: the least recently used group goes
                self._due.pop(evicted, None)
                self.overflow_keys += 1
            state = self.groups[group] = self.kind.new_group()
        else:
            self.groups.move_to_end(group)
        due = self._due.get(group)
        if due is None or ts < due:
            self._due[group] = ts
            heapq.heappush(self._expiry, (ts, group))
        return state

    def reindex_expiry(self) -> None:
        """Rebuild the expiry heap from the groups (after a restore filled them)."""
        self._due = {}
        for group, state in self.groups.items():
            oldest = _oldest(state)
            self._due[group] = oldest if oldest != float("inf") else float("-inf")  # empty: goes at the next sweep
        self._expiry = [(t, g) for g, t in self._due.items()]
        heapq.heapify(self._expiry)

    def _drain(self, seq: int) -> list[Incident]:
        out = self.book.out
        if not out:
            return out
        self.book.out = []
        self.outputs.extend((seq, u) for u in out)
        return out

    def fire(self, ts: float, kind: str, ref: str) -> list[Incident]:
        """A timer of this rule that the watermark passed (popped from the shared heap by the caller)."""
        firing = Firing((ts, TIMER_TIE), self.seq, self.journal.mark(), self.out_base + len(self.outputs))
        self.seq += 1
        self.firings.append(firing)
        if self._max_fired is None or firing.key > self._max_fired:
            self._max_fired = firing.key
        self.journal.add(("timer", (ts, self.owner, kind, ref)))
        if kind == MATCH_TIMER:
            group, _, sub = ref.partition("\x1e")
            state = self.groups.get(group)
            if state is not None:
                for m in self.kind.on_timer(state, sub, ts, group):
                    self.matches += 1
                    self.book.on_match(m)
                    self.journal.add(("matched",))
                self._adopt(firing.key)
        else:
            self.book.on_timer(kind, ref, ts)
        return self._drain(firing.seq)

    def insert_quietly(self, item: Item, watermark: float) -> bool:
        """An item that came out of order but changes nothing after its place: it only completes (or not) its
        own matches, and no later entry can see it. With no match, it is slotted into place without going
        back (most late events: an ANPR read of no listed plate, a call far from any later call). False: the
        caller must rewind."""
        kind = self.kind
        if item.action is not None or not kind.quiet_insert:
            return False
        i = bisect_left(self.items, item.key, key=lambda it: it.key)
        if i == len(self.items):
            return False  # out of order only against a timer that fired: that firing must be redone
        stateful = kind.stateful
        entries = [Entry(item.ev, item.ts, sel, item.replica, group) for sel, group in item.sels]
        if stateful:
            for entry in entries:
                state = self.groups.get(entry.group)
                if state is not None and kind.later_affected(state, entry.sel, entry, watermark):
                    return False
        added: list[tuple[Any, Entry]] = []
        quiet = True
        for entry in entries:
            state = self._group(entry.group, entry.ts) if stateful else None
            kind.add(state, entry)
            added.append((state, entry))
            if kind.trigger(state, entry):
                quiet = False
                break
        if not quiet:
            for state, entry in added[::-1]:  # (reversed() of it trips mypyc 2.4)
                kind.remove(state, entry)
            return False
        nxt = self.items[i]
        item.seq, item.mark, item.out = nxt.seq, nxt.mark, nxt.out  # undone exactly when its successor is
        item.entries = [entry for _, entry in added]
        self.items.insert(i, item)
        self._item_seqs.insert(i, nxt.seq)
        return True

    # --- going back ----------------------------------------------------------------------------------
    def rewind(self, p: Key, watermark: float, remove: set[Key] | None = None, add: list[Item] | None = None) -> Rewind:
        """Go back to before canonical position `p` (the earliest change), drop the items keyed in `remove`,
        insert `add`, and redo everything after in canonical order, firing the timers the watermark already
        passed at their own places among the items."""
        self.rewinds += 1
        frontier = self.last_key or p  # timers past what had run are left to the watermark's own order
        target = self._target(p)
        if target is None:  # nothing ran past p: the new items simply come next
            start = len(self.outputs)
            self._replay(sorted(add or (), key=lambda i: i.key), watermark, frontier)
            return Rewind(new=[u for _, u in self.outputs[start:]])
        seq, mark, out = target
        out -= self.out_base
        old = [u for _, u in self.outputs[out:]]
        del self.outputs[out:]
        self.journal.undo_to(mark, self._undo)
        first = bisect_left(self._item_seqs, seq)
        undone = self.items[first:]
        for item in reversed(undone):
            self.matches -= item.matches
            for entry in reversed(item.entries):
                state = self.groups.get(entry.group)
                if state is not None:
                    self.kind.remove(state, entry)
        del self.items[first:]
        del self._item_seqs[first:]
        while self.firings and self.firings[-1].seq >= seq:
            self.firings.pop()
        self._max_fired = max((f.key for f in self.firings), default=None)
        redo = [i for i in undone if remove is None or i.key not in remove]
        redo.extend(add or ())
        redo.sort(key=lambda i: i.key)
        start = len(self.outputs)
        self._replay(redo, watermark, frontier)
        return Rewind(old=old, new=[u for _, u in self.outputs[start:]])

    def _replay(self, redo: list[Item], watermark: float, frontier: Key) -> None:
        """Redo items in order, firing at their places the timers that had already run (at or before the
        frontier the rule had reached); timers past it wait for the watermark, in everyone's order."""
        heap = self.timers._heap

        def replayed(t: tuple[float, str, str, str]) -> bool:
            return t[1] == self.owner and t[0] < watermark and (t[0], TIMER_TIE) <= frontier

        mine = [t for t in heap if replayed(t)]
        if mine:
            self.timers._heap = heap = [t for t in heap if not replayed(t)]
            heapq.heapify(heap)
        heapq.heapify(mine)
        self._replay_due, self._replay_wm, self._replay_upto = mine, watermark, frontier
        try:
            for item in redo:
                while mine and (mine[0][0], TIMER_TIE) < item.key:
                    self._fire_local(mine)
                item.entries = []
                item.matches = 0
                self.apply(item)
            while mine:
                self._fire_local(mine)
        finally:
            self._replay_due = None

    def _fire_local(self, due: list[tuple[float, str, str, str]]) -> None:
        ts, _, kind, ref = item = heapq.heappop(due)
        while due and due[0] == item:  # the same timer armed twice fires once
            heapq.heappop(due)
        self.fire(ts, kind, ref)

    def _target(self, p: Key) -> tuple[int, int, int] | None:
        """(seq, journal mark, output index) of the first operation at or past canonical position p."""
        best: tuple[int, int, int] | None = None
        i = bisect_left(self.items, p, key=lambda it: it.key)
        if i < len(self.items):
            it = self.items[i]
            best = (it.seq, it.mark, it.out)
        # A timer fires only once the watermark passed it, and an item is taken only within `accept` of the
        # watermark, so a firing that ran before an item keyed k has a time <= k + accept.
        items = self.items
        seqs = self._item_seqs
        for f in reversed(self.firings):
            if f.key >= p:
                if best is None or f.seq < best[0]:
                    best = (f.seq, f.mark, f.out)
                continue
            nxt = bisect_right(seqs, f.seq)
            if nxt < len(items) and items[nxt].key[0] + self.accept < p[0]:
                break
        return best

    def _undo(self, op: Op) -> None:
        code = op[0]
        if code == "timer":
            ts, owner, kind, ref = op[1]
            self.timers.register(ts, owner, kind, ref)
        elif code == "matched":
            self.matches -= 1
        elif code == "noop":
            pass
        elif code == "orphan":
            waiting = self.orphans[op[1]]
            waiting.pop()
            if not waiting:
                del self.orphans[op[1]]
        elif code == "adopted":
            self.orphans[op[1]] = list(op[2])  # a copy: a redo appends to it, the journal's record stays as it was
        else:
            self.book.undo(op)

    # --- housekeeping ---------------------------------------------------------------------------------
    def sweep(self, watermark: float) -> None:
        """Forget what no late input can reach any more: expired buffer entries, old items, journal records."""
        horizon = watermark - self.accept  # no input older than this is taken
        # a rollback redoes items back to `horizon - accept`, whose triggers look back `lookback` more
        cutoff = horizon - self.accept - self.kind.lookback()
        if self.kind.stateful:
            # a configured state_ttl (lint: never shorter than the longest window) may cut sooner than what
            # late input can reach: what it drops beyond the windows is counted, never silent
            ttl = self.rule.spec.limits.state_ttl
            ttl_cut = watermark - ttl if ttl is not None and watermark - ttl > cutoff else None
            # only groups with an entry older than the cut can change (or be empty: a group is listed from
            # its creation, at a time at or before its first entry, so an empty one goes at its first cut)
            cut = cutoff if ttl_cut is None else ttl_cut
            heap, due, groups, kind = self._expiry, self._due, self.groups, self.kind
            while heap and heap[0][0] < cut:
                t, group = heapq.heappop(heap)
                if due.get(group) != t:
                    continue  # superseded by an earlier time pushed later
                state = groups.get(group)
                if state is None:
                    del due[group]
                    continue
                for buf in state:
                    es = buf.entries
                    if len(es) > buf.start and es[-1].ts >= cutoff:
                        break
                else:  # every entry is older than the cutoff (most groups of a keyed rule): the group goes
                    del groups[group]
                    del due[group]
                    continue
                left = kind.expire(state, cutoff)
                if ttl_cut is not None and left:
                    after = kind.expire(state, ttl_cut)
                    self.evicted_ttl += left - after
                    left = after
                if left == 0:
                    del groups[group]
                    del due[group]
                else:
                    due[group] = oldest = _oldest(state)
                    heapq.heappush(heap, (oldest, group))
        # items a rollback can still redo: those after any item or firing keyed past `horizon`
        keep_from = horizon - self.accept
        i = bisect_left(self.items, (keep_from, ""), key=lambda it: it.key)
        if i:
            del self.items[:i]
            del self._item_seqs[:i]
        j = 0
        while j < len(self.firings) and self.firings[j].key[0] < horizon - self.accept:
            j += 1
        if j:
            del self.firings[:j]
        marks = [it.mark for it in self.items[:1]] + [f.mark for f in self.firings[:1]]
        outs = [it.out for it in self.items[:1]] + [f.out for f in self.firings[:1]]
        mark = min(marks) if marks else self.journal.mark()
        out = min(outs) - self.out_base if outs else len(self.outputs)
        self.journal.trim(mark)
        if out:
            del self.outputs[:out]
            self.out_base += out
        self.book.forget_closed()
        base = self.journal.base
        for inc_id in [i for i, items in self.orphans.items() if all(it.orphaned < base for it in items)]:
            del self.orphans[inc_id]  # actions for an incident never raised in time

    def size(self) -> int:
        if not self.kind.stateful:
            return self.book.size()
        return sum(self.kind.size(state) for state in self.groups.values()) + self.book.size()

    def describe(self, group: str) -> str:
        state = self.groups.get(group)
        return "no state" if state is None else self.kind.describe(state)


def _oldest(state: Any) -> float:
    """The time of a group's oldest live entry (+inf when it holds none)."""
    return min((buf.entries[buf.start].ts for buf in state if len(buf)), default=float("inf"))


def route_matches(rule: RuleRuntime, matches: list[Match]) -> None:
    """Hand matches to the book (used by tests that drive a kind directly)."""
    for m in matches:
        rule.book.on_match(m)
