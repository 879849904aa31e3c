"""Server-only access control: a read-only BI role and row policies by admin path.

chDB has no users, so none of this is applied there; `saqshy db migrate` applies it on a server and
`saqshy db access-sql` prints it for review. Semantics (ClickHouse row policies are permissive and OR-ed
per user): every role that may read the scoped tables gets a policy; a scoped role's policy is the condition
of its admin path, so a district user sees its district only, while saqshy_reader sees everything.
Restricted columns (restricted_*) are granted to nobody but saqshy_restricted_reader.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml

from jobs.archive.errors import MigrationError

LEVELS = ("republic", "region", "city", "district")
# Tables whose rows belong to an admin area; the aggregates have the same columns, so they are scoped too.
SCOPED_TABLES = ("events", "incidents", "incident_events", "map_hourly", "map_daily")
# Views run with the invoker's rights: the row policies and column grants on events/incidents apply through them.
PUBLIC_TABLES = (
    "ref_hotlist", "ref_cameras", "ref_zones", "ref_admin_areas", "incidents_latest", "incidents_local", "events_local",
)  # fmt: skip
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")


@dataclass(frozen=True)
class Scope:
    name: str
    republic: str | None = None
    region: str | None = None
    city: str | None = None
    district: str | None = None

    def __post_init__(self) -> None:
        if not _NAME.match(self.name):
            raise MigrationError(f"scope name {self.name!r}: use lowercase letters, digits and _")
        if not any(getattr(self, level) for level in LEVELS):
            raise MigrationError(f"scope {self.name}: give at least one of {', '.join(LEVELS)}")

    @property
    def role(self) -> str:
        return f"saqshy_scope_{self.name}"

    def condition(self) -> str:
        parts = [f"{level} = {quote(value)}" for level in LEVELS if (value := getattr(self, level))]
        return " AND ".join(parts)


def quote(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def load_scopes(path: Path) -> list[Scope]:
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        items = doc.get("scopes", [])
        scopes = [Scope(**{str(k): (str(v) if v is not None else None) for k, v in item.items()}) for item in items]  # type: ignore[arg-type]
    except (OSError, yaml.YAMLError, TypeError, AttributeError) as exc:
        raise MigrationError(f"{path}: not a scopes file ({exc})") from None
    names = [s.name for s in scopes]
    if len(set(names)) != len(names):
        raise MigrationError(f"{path}: duplicate scope names")
    return scopes


def restricted_columns(columns: Iterable[str]) -> list[str]:
    return [c for c in columns if c.startswith("restricted_")]


def access_statements(db: str, scopes: Sequence[Scope], incident_columns: Sequence[str]) -> list[str]:
    """Idempotent DDL for the roles, grants and row policies of `db`."""
    public_incident_cols = [c for c in incident_columns if not c.startswith("restricted_")]
    cols = ", ".join(public_incident_cols)
    out = [
        "CREATE ROLE IF NOT EXISTS saqshy_reader",
        "CREATE ROLE IF NOT EXISTS saqshy_restricted_reader",
        # Read-only: SELECT only, never INSERT/ALTER; restricted columns are left out column by column.
        f"GRANT SELECT ON {db}.events TO saqshy_reader",
        f"GRANT SELECT({cols}) ON {db}.incidents TO saqshy_reader",
        *(f"GRANT SELECT ON {db}.{t} TO saqshy_reader" for t in SCOPED_TABLES if t not in {"events", "incidents"}),
        *(f"GRANT SELECT ON {db}.{t} TO saqshy_reader" for t in PUBLIC_TABLES),
        "GRANT saqshy_reader TO saqshy_restricted_reader",
        f"GRANT SELECT ON {db}.incidents TO saqshy_restricted_reader",
        "CREATE SETTINGS PROFILE IF NOT EXISTS saqshy_bi SETTINGS readonly = 1, max_execution_time = 60 "
        "TO saqshy_reader",
    ]
    for table in SCOPED_TABLES:
        out.append(
            f"CREATE ROW POLICY OR REPLACE saqshy_all ON {db}.{table} FOR SELECT USING 1 "
            "TO saqshy_reader, saqshy_restricted_reader"
        )
    for scope in scopes:
        out.append(f"CREATE ROLE IF NOT EXISTS {scope.role}")
        # A scoped role reads like a BI reader, but only its own rows: it is granted the reader's privileges
        # directly (not the role, whose allow-all policy would OR with the scope's and show everything).
        out.append(f"GRANT SELECT ON {db}.events TO {scope.role}")
        out.append(f"GRANT SELECT({cols}) ON {db}.incidents TO {scope.role}")
        out += [f"GRANT SELECT ON {db}.{t} TO {scope.role}" for t in SCOPED_TABLES if t not in {"events", "incidents"}]
        out += [f"GRANT SELECT ON {db}.{t} TO {scope.role}" for t in PUBLIC_TABLES]
        for table in SCOPED_TABLES:
            out.append(
                f"CREATE ROW POLICY OR REPLACE {scope.role} ON {db}.{table} FOR SELECT "
                f"USING {scope.condition()} TO {scope.role}"
            )
    return out
