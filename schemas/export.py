"""JSON Schema export of the contract (`saqshy schemas export DIR`)."""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import BaseModel, TypeAdapter

from schemas.deadletter import DeadLetter
from schemas.events import EVENT_ADAPTER, EVENT_CLASSES
from schemas.incident import Incident


def json_schemas() -> dict[str, dict[str, object]]:
    out: dict[str, dict[str, object]] = {"event": EVENT_ADAPTER.json_schema()}
    for etype, cls in EVENT_CLASSES.items():
        out["event." + etype] = cls.model_json_schema()
    models: dict[str, type[BaseModel]] = {"incident": Incident, "dead_letter": DeadLetter}
    for name, model in models.items():
        out[name] = TypeAdapter(model).json_schema()
    return out


def export_json_schemas(directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, schema in json_schemas().items():
        path = directory / f"{name}.schema.json"
        schema = {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema}
        path.write_text(json.dumps(schema, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        written.append(path)
    return written
