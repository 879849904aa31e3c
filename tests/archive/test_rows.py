"""event_columns (sliced, transposed, one plan per record class) against a plain row-at-a-time reference: same
columns, same values, same types, in the same order, whatever mix of locations and admin paths a batch has."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from jobs.archive.rows import BY_TYPE, COMMON, EVENT_COLUMNS, EVENT_DEFAULTS, Pseudonymiser, event_columns
from rules.privacy import PrivacySettings
from rules.records import _EVENT_STRUCTS
from tests.archive.conftest import Sim

PRIVACY = PrivacySettings(b"archive-test-secret-0123456789")
_ADMIN_CLASS = next(f.type for f in msgspec.structs.fields(_EVENT_STRUCTS["anpr.read"]) if f.name == "admin")
AdminPath: Any = next(a for a in _ADMIN_CLASS.__args__ if a is not type(None))


def _reference_row(rec: Any, pseudo: Pseudonymiser) -> list[Any]:
    rec = pseudo.record(rec)
    row = dict(EVENT_DEFAULTS)
    row["type"] = rec.type
    for name, src in {**COMMON, **BY_TYPE.get(rec.type, {})}.items():
        if src.path is None:
            row[name] = src.const
            continue
        value: Any = rec
        for part in src.path.split("."):
            value = getattr(value, part)
        row[name] = EVENT_DEFAULTS[name] if value is None and EVENT_DEFAULTS[name] is not None else value
    for name in ("lat", "lon", "accuracy_m"):
        row[name] = None if rec.location is None else getattr(rec.location, name)
    for name in ("republic", "region", "city", "district"):
        row[name] = "" if rec.admin is None else (getattr(rec.admin, name) or "")
    row["payload"] = msgspec.json.encode(rec.data)
    return [row[name] for name in EVENT_COLUMNS]


def _reference(records: list[Any], pseudo: Pseudonymiser) -> list[list[Any]]:
    by_type: dict[str, list[Any]] = {}
    for rec in records:
        by_type.setdefault(rec.type, []).append(rec)
    rows = [_reference_row(rec, pseudo) for recs in by_type.values() for rec in recs]
    return [list(col) for col in zip(*rows, strict=True)] if rows else [[] for _ in EVENT_COLUMNS]


def _vary(records: list[Any]) -> list[Any]:
    """Some records without a location, some with a full or partial admin path."""
    out = []
    for i, rec in enumerate(records):
        if i % 7 == 0:
            rec = msgspec.structs.replace(rec, location=None)
        if i % 3 == 0:
            district = None if i % 5 == 0 else f"district-{i % 4}"
            admin = AdminPath(republic="KZ", region="Alatau", city=f"city-{i % 2}", district=district)
            rec = msgspec.structs.replace(rec, admin=admin)
        out.append(rec)
    return out


@pytest.mark.parametrize("shape", ["as simulated", "mixed locations and admin paths", "one", "none"])
def test_event_columns_match_the_row_by_row_reference(sim: Sim, shape: str) -> None:
    records = {
        "as simulated": sim.records[:6000],
        "mixed locations and admin paths": _vary(sim.records[:6000]),
        "one": sim.records[-1:],
        "none": [],
    }[shape]
    got = event_columns(records, Pseudonymiser(PRIVACY))
    want = _reference(records, Pseudonymiser(PRIVACY))
    assert len(got) == len(EVENT_COLUMNS)
    for name, g, w in zip(EVENT_COLUMNS, got, want, strict=True):
        assert g == w, name
        assert [type(v) for v in g] == [type(v) for v in w], name
    if shape == "as simulated":
        assert {"call.112", "anpr.read", "unit.gps"} <= set(got[EVENT_COLUMNS.index("type")])
