"""Route each event only to the selections that can want it: by type, then by hash on a field the
selection's condition pins to literal values (e.g. data.analytic in ["fire", "smoke"])."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from operator import attrgetter
from typing import Any

from rules.compiler import CSelection


@dataclass(slots=True)
class Route:
    """One selection of one rule; `rt` (the rule's runtime) and the lateness fields are filled by the
    correlator so the hot path reads them directly instead of looking them up per event."""

    order: int
    state_key: str
    sel: CSelection
    rt: Any = None
    lateness: float = 0.0
    drop_late: bool = True


def _safe_getter(path: tuple[str, ...]) -> Callable[[Any], Any]:
    get = attrgetter(".".join(path))

    def read(obj: Any) -> Any:
        try:
            return get(obj)
        except AttributeError:
            return None

    return read


@dataclass
class _TypeRoutes:
    always: list[Route] = field(default_factory=list)
    indexed: list[tuple[Callable[[Any], Any], dict[Any, list[Route]]]] = field(default_factory=list)
    _paths: dict[tuple[str, ...], int] = field(default_factory=dict)

    def add(self, route: Route) -> None:
        if not route.sel.equalities:
            self.always.append(route)
            return
        path, values = route.sel.equalities[0]
        slot = self._paths.get(path)
        if slot is None:
            slot = self._paths[path] = len(self.indexed)
            self.indexed.append((_safe_getter(path), {}))
        table = self.indexed[slot][1]
        for value in values:
            table.setdefault(value, []).append(route)


_NONE: list[Route] = []


class Router:
    def __init__(self, routes: list[Route]):
        self._types: dict[str, _TypeRoutes] = {}
        for route in routes:
            self._types.setdefault(route.sel.event_type, _TypeRoutes()).add(route)

    def wants(self, event_type: str) -> bool:
        return event_type in self._types

    def routes(self, ev: Any) -> list[Route]:
        tr = self._types.get(ev.type)
        if tr is None:
            return _NONE
        if not tr.indexed:
            return tr.always
        if not tr.always and len(tr.indexed) == 1:
            read, table = tr.indexed[0]
            return table.get(read(ev), _NONE)
        found = list(tr.always)
        for read, table in tr.indexed:
            hit = table.get(read(ev))
            if hit:
                found.extend(hit)
        if len(found) > 1 and ((tr.always and len(found) > len(tr.always)) or len(tr.indexed) > 1):
            found.sort(key=lambda r: r.order)
        return found
