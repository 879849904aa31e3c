"""Putting a console together: the replay one (embedded runner over a file, as `saqshy replay` wires rules,
roster, warning devices and alerts) and the live one (Kafka)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from rules.loader import CATALOG, RuleSet, load_rules
from streams.console.app import Console
from streams.console.audit import AuditLog, Sink
from streams.console.auth import SessionStore
from streams.console.layers import load_devices
from streams.console.state import Board
from streams.console.users import User
from streams.dlq import MemoryDeadLetters
from streams.embedded import ContextOptions, EmbeddedRunner, open_lines


def playbook_names(ruleset: RuleSet) -> dict[str, str]:
    out = {}
    for r in ruleset.rules:
        pb = r.spec.incident.playbook
        if isinstance(pb, str):
            out[r.id] = pb
    return out


def file_lines(path: Path) -> Iterator[bytes]:
    with open_lines(path) as fh:
        yield from fh


def replay_console(
    users: dict[str, User],
    lines: Iterable[bytes],
    *,
    rule_paths: Iterable[Path] | None = None,
    context: ContextOptions | None = None,
    devices: Path | None = None,
    speed: float = 60.0,
    session_ttl_s: float = 8 * 3600,
    audit_sinks: list[Sink] | None = None,
    source_name: str = "-",
) -> Console:
    from streams.console.sources import ReplaySource

    ruleset = load_rules(list(rule_paths) if rule_paths else [CATALOG])
    board = Board(playbook_names=playbook_names(ruleset))
    if devices is not None:
        board.devices = load_devices(devices)
    runner = EmbeddedRunner(ruleset, MemoryDeadLetters(), source_name=source_name, context=context)
    return Console(
        users=users,
        board=board,
        source=ReplaySource(runner, lines, board, speed),
        sessions=SessionStore(session_ttl_s),
        audit=AuditLog(audit_sinks),
    )


def live_console(
    users: dict[str, User],
    bootstrap: str,
    *,
    rule_paths: Iterable[Path] | None = None,
    partitioning: str = "single",
    devices: Path | None = None,
    session_ttl_s: float = 8 * 3600,
    audit_sinks: list[Sink] | None = None,
    settings: Any = None,
) -> Console:
    """Live on Kafka: the workers' outputs in, the operators' actions out (keyed by the workers' partition plan,
    so each reaches the worker that owns the incident's cell); the audit log also goes to the audit topic.
    The caller checks the cluster's access first (saqshy.kafka_access.check_access); `settings` (a
    KafkaSettings) replaces the environment's, e.g. with a topic prefix."""
    from confluent_kafka import Producer

    from schemas.topics import AUDIT
    from streams.console.audit import kafka_sink
    from streams.console.sources import KafkaSource
    from streams.kafka.settings import KafkaSettings
    from streams.partitioning import plan_for

    ruleset = load_rules(list(rule_paths) if rule_paths else [CATALOG])
    settings = settings or KafkaSettings.from_env(bootstrap_servers=bootstrap)
    board = Board(playbook_names=playbook_names(ruleset))
    if devices is not None:
        board.devices = load_devices(devices)
    sinks: list[Sink] = [kafka_sink(Producer(settings.producer_config()), settings.topic(AUDIT)), *(audit_sinks or [])]
    return Console(
        users=users,
        board=board,
        source=KafkaSource(settings, board, plan_for(ruleset, partitioning)),  # type: ignore[arg-type]
        sessions=SessionStore(session_ttl_s),
        audit=AuditLog(sinks),
    )
