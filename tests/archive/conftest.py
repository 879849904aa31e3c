"""Fixtures for the archive tests: one embedded chDB per test module (chDB allows one path per process, so
each module opens its own and closes it), a fresh database per test, a simulated city stream and its
incidents from the embedded runner."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from clickhouse_connect.driver.client import Client

from jobs.archive.dsn import connect
from jobs.archive.migrate import migrate
from rules.loader import load_rules
from rules.records import decode_record
from schemas import Incident
from streams.embedded import EmbeddedRunner
from streams.sim import SimConfig, simulate

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / ".." / "shared" / "data"
CITY = ROOT / "streams" / "sim" / "cities" / "alatau"
_N = itertools.count()


@dataclass
class Sim:
    path: Path
    lines: list[bytes]
    records: list[Any]  # runtime event records
    versions: list[Incident]  # every incident update, in emission order


@pytest.fixture(scope="module")
def chdb_client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Client]:
    client = connect(f"chdb://{tmp_path_factory.mktemp('chdb')}")
    yield client
    client.close()


@pytest.fixture
def db(chdb_client: Client) -> str:
    """A freshly migrated database of its own for each test."""
    name = f"t{next(_N)}_{datetime.now(UTC).strftime('%H%M%S%f')}"
    migrate(chdb_client, name, server=False)
    return name


@pytest.fixture(scope="session")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Sim:
    """Three simulated hours of Alatau (seed 7) and what the catalog rules make of them."""
    path = tmp_path_factory.mktemp("sim") / "events.jsonl"
    simulate(SimConfig(CITY, 3.0, 7, datetime(2026, 11, 21, 19, tzinfo=UTC)), path, path.with_suffix(".truth"))
    lines = [line for line in path.read_bytes().splitlines() if line.strip()]
    versions: list[Incident] = []
    EmbeddedRunner(load_rules([ROOT / "rules" / "catalog"])).run(lines, versions.append)
    return Sim(path, lines, [decode_record(line) for line in lines], versions)
