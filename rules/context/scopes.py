"""Hierarchy scopes: every incident belongs to the scope of each level of its admin path.

A scope id is the slugged admin path down to a level, joined by "/": "kazakhstan", "kazakhstan/alatau",
"kazakhstan/alatau/alatau", "kazakhstan/alatau/alatau/almaly-district". A centre with scope S sees every
record whose scope list contains S, i.e. everything below it. Topics use "." instead of "/":
"saqshy.incidents.scope.kazakhstan.alatau". The same ids become ClickHouse row policies
(`has(scopes, 'kazakhstan/alatau')`). Records without an admin path go to the scope "unassigned".
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Iterable
from functools import lru_cache
from typing import Any

from schemas import AdminPath, Incident
from schemas.topics import INCIDENTS

UNASSIGNED = "unassigned"
_NOT_SLUG = re.compile(r"[^a-z0-9]+")


# Kazakh and Russian Cyrillic to Latin (close to the 2021 Kazakh Latin alphabet, ASCII only): names in either
# script give readable, stable topic names.
_LATIN = "a b v g d e yo zh z i y k l m n o p r s t u f kh ts ch sh shch _ y _ e yu ya a g q n o u u h i"
_CYRILLIC = {
    c: ("" if t == "_" else t)
    for c, t in zip("абвгдеёжзийклмнопрстуфхцчшщъыьэюяәғқңөұүһі", _LATIN.split(), strict=True)
}


@lru_cache(maxsize=65_536)  # admin names are few and repeat on every incident
def slug(name: str) -> str:
    """Lowercase ASCII letters, digits and "-" (topic-safe). Cyrillic is transliterated, accents folded; a
    name with nothing left gets a short stable hash so two such names never share a scope."""
    text = "".join(_CYRILLIC.get(ch, ch) for ch in name.lower())
    ascii_name = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    out = _NOT_SLUG.sub("-", ascii_name).strip("-")
    return out or "n" + hashlib.blake2b(name.encode(), digest_size=4).hexdigest()


def scope_ids(admin: AdminPath | None) -> list[str]:
    """The scope of every level of the path, upper first; levels above a missing one still count."""
    if admin is None:
        return [UNASSIGNED]
    parts: list[str] = []
    out: list[str] = []
    for name in admin.as_tuple():
        if not name:
            break
        parts.append(slug(name))
        out.append("/".join(parts))
    return out or [UNASSIGNED]


def incident_admin(incident: Incident) -> AdminPath | None:
    """The admin path to route by: the incident's own, else the one enrichment found for its location."""
    if incident.admin is not None:
        return incident.admin
    return incident.context.admin if incident.context is not None else None


def scoped_topics(incident: Incident, base: str = INCIDENTS, prefix: str = "") -> list[str]:
    """Per-level output topics of an incident (or an alert's incident), upper level first.

    A runtime produces the incident to `prefix + base` (everything) and to each of these (one per level)."""
    return [f"{prefix}{base}.scope.{s.replace('/', '.')}" for s in scope_ids(incident_admin(incident))]


def scope_topics(paths: Iterable[AdminPath], base: str = INCIDENTS, prefix: str = "") -> list[str]:
    """Every per-level topic the admin paths need (to create them ahead, e.g. from the admin areas)."""
    return sorted({f"{prefix}{base}.scope.{s.replace('/', '.')}" for p in paths for s in scope_ids(p)})


def admin_paths(areas: Iterable[Any]) -> list[AdminPath]:
    """The full admin path of every admin area record (its chain of parents), for `scope_topics`."""
    by_id = {a.area_id: a for a in areas}
    out = []
    for area in by_id.values():
        names: dict[str, str] = {}
        node, hops = area, 0
        while node is not None and hops < 8:
            names[str(node.level)] = node.name
            node, hops = by_id.get(node.parent_id) if node.parent_id else None, hops + 1
        out.append(AdminPath(**{k: v for k, v in names.items() if k in ("republic", "region", "city", "district")}))
    return out
