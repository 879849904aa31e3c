"""The units roster: which units exist, their type, callsign, agency and home base.

With a roster, it is authoritative: a GPS fix of a unit not on it is not recommended (a dispatcher cannot
send a unit the centre does not know), and the roster's type and callsign win over what the tracker says.
Without one, units are known from their GPS alone. Loaded from CSV (unit_id,unit_type,callsign,agency,base_id)
or YAML ({units: [...]}); static configuration, passed at construction (not part of snapshots).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from rules.context.errors import ContextError
from schemas import UnitType


@dataclass(frozen=True, slots=True)
class RosterUnit:
    unit_id: str
    unit_type: str
    callsign: str | None = None
    agency: str | None = None
    base_id: str | None = None


def _unit(row: dict[str, Any], where: str) -> RosterUnit:
    try:
        unit_id = str(row["unit_id"]).strip()
        unit_type = UnitType(str(row["unit_type"]).strip()).value
    except KeyError as e:
        raise ContextError(f"{where}: missing {e}") from None
    except ValueError:
        raise ContextError(f"{where}: unit_type {row.get('unit_type')!r} is not one of "
                           f"{', '.join(t.value for t in UnitType)}") from None  # fmt: skip
    if not unit_id:
        raise ContextError(f"{where}: empty unit_id")

    def opt(name: str) -> str | None:
        value = row.get(name)
        return str(value).strip() or None if value is not None else None

    return RosterUnit(unit_id, unit_type, opt("callsign"), opt("agency"), opt("base_id"))


def load_roster(path: Path | str) -> dict[str, RosterUnit]:
    path = Path(path)
    try:
        if path.suffix == ".csv":
            with path.open(newline="", encoding="utf-8") as fh:
                units = [_unit(row, f"{path}: line {n}") for n, row in enumerate(csv.DictReader(fh), 2)]
        elif path.suffix in (".yaml", ".yml"):
            doc = yaml.safe_load(path.read_text(encoding="utf-8"))
            if not isinstance(doc, dict) or not isinstance(doc.get("units"), list):
                raise ContextError(f"{path}: expected {{units: [...]}}")
            units = [_unit(row, f"{path}: unit {i}") for i, row in enumerate(doc["units"])]
        else:
            raise ContextError(f"{path}: a roster is .csv or .yaml")
    except (OSError, yaml.YAMLError, csv.Error) as e:
        raise ContextError(f"{path}: {e}") from None
    roster: dict[str, RosterUnit] = {}
    for u in units:
        if u.unit_id in roster:
            raise ContextError(f"{path}: unit {u.unit_id} is listed twice")
        roster[u.unit_id] = u
    return roster
