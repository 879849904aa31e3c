"""Hierarchy scopes: every incident belongs to the scope of each level of its admin path.

A scope id is the slugged admin path down to a level, joined by "/": "kazakhstan", "kazakhstan/alatau",
"kazakhstan/alatau/alatau", "kazakhstan/alatau/alatau/almaly-district". A centre with scope S sees every
record whose scope list contains S, i.e. everything below it. Topics use "." instead of "/":
"saqshy.incidents.scope.kazakhstan.alatau". The same ids become ClickHouse row policies
(`has(scopes, 'kazakhstan/alatau')`). Records without an admin path go to the scope "unassigned".
"""

from __future__ import annotations

import re
import unicodedata

from schemas import AdminPath, Incident
from schemas.topics import INCIDENTS

UNASSIGNED = "unassigned"
_NOT_SLUG = re.compile(r"[^a-z0-9]+")


def slug(name: str) -> str:
    """Lowercase ASCII letters, digits and "-" (topic-safe); accents are folded, other scripts dropped."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return _NOT_SLUG.sub("-", ascii_name.lower()).strip("-") or "x"


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
