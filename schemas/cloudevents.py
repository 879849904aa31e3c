"""CloudEvents 1.0 mapping of the envelope, for Kafka headers in binary content mode."""

from __future__ import annotations

from schemas.common import SCHEMA_VERSION
from schemas.events import EventBase

CE_TYPE_PREFIX = "kz.saqshy."
DATASCHEMA_BASE = "https://saqshy.org/schemas/" + SCHEMA_VERSION + "/"


def cloudevent_headers(event: EventBase) -> list[tuple[str, bytes]]:
    """The `ce_`-prefixed headers of the Kafka protocol binding (CloudEvents Kafka binding 1.0)."""
    etype: str = event.type  # type: ignore[attr-defined]
    headers = [
        ("ce_specversion", b"1.0"),
        ("ce_id", event.id.encode()),
        ("ce_source", event.source.encode()),
        ("ce_type", (CE_TYPE_PREFIX + etype).encode()),
        ("ce_time", event.time.isoformat().encode()),
        ("ce_dataschema", (DATASCHEMA_BASE + etype + ".json").encode()),
        ("content-type", b"application/json"),
    ]
    if event.admin is not None and event.admin.district:
        headers.append(("ce_subject", event.admin.district.encode()))
    return headers


def event_type_from_ce(ce_type: str) -> str:
    return ce_type.removeprefix(CE_TYPE_PREFIX)
