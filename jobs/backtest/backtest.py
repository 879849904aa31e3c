"""`saqshy rules backtest`: what would these rules have produced on the archive, day by day?

Archived events are read back in event order (time, id), rebuilt into contract events and fed to the embedded
runner, the reference runtime, with the candidate rules. Reference events (hotlists, cameras, zones, areas) from
before the range are replayed first, so joins see the tables as they were. Each rule's incidents per day are
compared with the incidents the deployed rules actually produced in the archive (same deterministic ids when
the rule did not change). Personal data in the archive is pseudonymised; rules that compare such fields for
equality (same phone, distinct callers) behave exactly as on clear values, rules that read their digits do not.
"""

from __future__ import annotations

import os
import tempfile
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import yaml
from clickhouse_connect.driver.client import Client

from jobs.archive.errors import ArchiveError
from rules.loader import SETTINGS_FILE, RuleSet, load_rules
from rules.privacy import PREFIX as PSEUDONYM_PREFIX
from schemas import Incident
from streams.dlq import MemoryDeadLetters
from streams.embedded import EmbeddedRunner

EVENT_SELECT = (
    "SELECT id, type, source, time, received_time, lat, lon, accuracy_m, republic, region, city, district, "
    "deleted, payload, schema_version FROM {db}.events FINAL WHERE {where} ORDER BY time, id"
)


@dataclass
class DayCount:
    rule_id: str
    day: str
    backtest: int = 0
    archived: int = 0
    same_ids: int = 0  # incidents found by both (identical deterministic id)

    @property
    def diff(self) -> int:
        return self.backtest - self.archived


@dataclass
class BacktestReport:
    start: datetime
    end: datetime
    rules: list[str]
    events: int = 0
    rejected: int = 0
    rows: list[DayCount] = field(default_factory=list)
    incidents: dict[str, Incident] = field(default_factory=dict)
    seconds: float = 0.0

    def totals(self) -> dict[str, tuple[int, int]]:
        out: dict[str, tuple[int, int]] = {}
        for r in self.rows:
            b, a = out.get(r.rule_id, (0, 0))
            out[r.rule_id] = (b + r.backtest, a + r.archived)
        return out

    def as_dict(self) -> dict[str, Any]:
        return {
            "from": self.start.isoformat(),
            "to": self.end.isoformat(),
            "rules": self.rules,
            "events": self.events,
            "rejected": self.rejected,
            "seconds": round(self.seconds, 3),
            "days": [
                {
                    "rule": r.rule_id,
                    "day": r.day,
                    "backtest": r.backtest,
                    "archived": r.archived,
                    "diff": r.diff,
                    "same_ids": r.same_ids,
                }
                for r in self.rows
            ],
        }


# --- rules --------------------------------------------------------------------------------------------


def candidate_ruleset(candidate: Sequence[Path], base: Path) -> RuleSet:
    """The base rule directory (settings, playbooks, other rules for chains) with the candidate files in
    place of the base rules of the same ids."""
    cand_files = rule_files(candidate)
    ids = {_rule_id(f) for f in cand_files} - {None}
    with tempfile.TemporaryDirectory(prefix="saqshy-backtest-") as tmp:
        root = Path(tmp)
        for f in sorted(base.rglob("*.y*ml")):
            rel = f.relative_to(base)
            is_rule = f.name != SETTINGS_FILE and "playbooks" not in rel.parts[:-1]
            if is_rule and _rule_id(f) in ids:
                continue  # replaced by the candidate
            dest = root / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            os.symlink(f.resolve(), dest)
        for i, f in enumerate(cand_files):
            dest = root / "_candidate" / f"{i:03d}_{f.name}"
            dest.parent.mkdir(parents=True, exist_ok=True)
            os.symlink(f.resolve(), dest)
        # The loader resolves symlinks when it names files, so errors point at the real files.
        return load_rules([root], allow_outside=True)  # links of our own making, to files the caller named


def _rule_id(path: Path) -> str | None:
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return None
    rid = doc.get("id") if isinstance(doc, dict) else None
    return str(rid) if rid is not None else None


def rule_files(paths: Sequence[Path]) -> list[Path]:
    """Rule files under `paths`, like the loader sees them (not ruleset.yaml, not playbooks/)."""
    out: list[Path] = []
    for p in paths:
        if p.is_dir():
            out += [
                f
                for f in sorted(p.rglob("*.y*ml"))
                if f.name != SETTINGS_FILE and "playbooks" not in f.relative_to(p).parts[:-1]
            ]
        elif p.name != SETTINGS_FILE:
            out.append(p)
    return out


def candidate_ids(candidate: Sequence[Path]) -> list[str]:
    return sorted({rid for f in rule_files(candidate) if (rid := _rule_id(f)) is not None})


# --- events -------------------------------------------------------------------------------------------


def _event_json(row: Sequence[Any]) -> bytes:
    (eid, etype, source, time, received, lat, lon, acc, rep, reg, city, dist, deleted, payload, version) = row
    doc: dict[str, Any] = {"id": eid, "type": etype, "source": source, "time": time, "schema_version": version}
    if received is not None:
        doc["received_time"] = received
    if lat is not None and lon is not None:
        doc["location"] = {"lat": lat, "lon": lon} | ({"accuracy_m": acc} if acc is not None else {})
    if rep or reg or city or dist:
        doc["admin"] = {k: v for k, v in (("republic", rep), ("region", reg), ("city", city), ("district", dist)) if v}
    if etype.startswith("ref."):
        doc["deleted"] = bool(deleted)
    if etype == "call.112" and '"phone":"h1:' in payload:
        # The contract allows 32 characters for a phone; a pseudonym is "h1:" + 32 hex. Without the prefix it
        # fits and stays one value per phone, which is all that rules compare.
        data = orjson.loads(payload)
        data["phone"] = data["phone"].removeprefix(PSEUDONYM_PREFIX)
        doc["data"] = data
    else:
        doc["data"] = orjson.Fragment(payload)
    return orjson.dumps(doc, option=orjson.OPT_NAIVE_UTC)


def archived_events(client: Client, db: str, start: datetime, end: datetime) -> Iterator[bytes]:
    """Reference events before `start`, then every event of [start, end) in event order, a day at a time."""
    params = {"s": start, "e": end}
    sql = EVENT_SELECT.format(db=db, where="type LIKE 'ref.%' AND time < {s:DateTime64(3, 'UTC')}")
    for row in client.query(sql, parameters=params).result_rows:
        yield _event_json(row)
    day = start
    while day < end:
        nxt = min(end, day + timedelta(days=1))
        where = "time >= {s:DateTime64(3, 'UTC')} AND time < {e:DateTime64(3, 'UTC')}"
        for row in client.query(EVENT_SELECT.format(db=db, where=where), parameters={"s": day, "e": nxt}).result_rows:
            yield _event_json(row)
        day = nxt


def archived_incidents(client: Client, db: str, rule_ids: Sequence[str], start: datetime, end: datetime) -> list[Any]:
    return list(
        client.query(
            f"SELECT rule_id, id, toDate(first_time) FROM {db}.incidents_latest WHERE rule_id IN {{r:Array(String)}} "
            "AND first_time >= {s:DateTime64(3, 'UTC')} AND first_time < {e:DateTime64(3, 'UTC')}",
            parameters={"r": list(rule_ids), "s": start, "e": end},
        ).result_rows
    )


# --- the backtest -------------------------------------------------------------------------------------


def backtest(
    client: Client, ruleset: RuleSet, rule_ids: Sequence[str], start: datetime, end: datetime, db: str = "saqshy"
) -> BacktestReport:
    if start.tzinfo is None or end <= start:
        raise ArchiveError("backtest needs an aware, non-empty time range")
    import time as _time

    t0 = _time.perf_counter()
    known = {r.id for r in ruleset.rules}
    missing = [r for r in rule_ids if r not in known]
    if missing:
        raise ArchiveError(f"rules not in the candidate set (disabled?): {', '.join(missing)}")
    runner = EmbeddedRunner(ruleset, MemoryDeadLetters(), source_name=f"archive:{db}")
    summary = runner.run(archived_events(client, db, start, end))
    report = BacktestReport(start, end, list(rule_ids), summary.events, sum(summary.rejected.values()))
    wanted = set(rule_ids)
    found = {i.id: i for i in summary.incidents.values() if i.rule_id in wanted and start <= i.first_time < end}
    report.incidents = found
    counts: dict[tuple[str, str], DayCount] = {}

    def cell(rule: str, day: str) -> DayCount:
        return counts.setdefault((rule, day), DayCount(rule, day))

    for inc in found.values():
        cell(inc.rule_id, inc.first_time.astimezone(UTC).date().isoformat()).backtest += 1
    for rule, iid, day in archived_incidents(client, db, rule_ids, start, end):
        c = cell(str(rule), day.isoformat())
        c.archived += 1
        if iid in found:
            c.same_ids += 1
    report.rows = sorted(counts.values(), key=lambda r: (r.rule_id, r.day))
    report.seconds = _time.perf_counter() - t0
    return report


def per_rule(report: BacktestReport) -> Counter[str]:
    return Counter({r: b for r, (b, _) in report.totals().items()})
