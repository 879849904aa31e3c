"""Ground truth of a simulation: the incidents that were planted, and when each became detectable."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Annotated

from pydantic import Field, ValidationError

from schemas.common import Contract, GeoPoint, UtcDatetime
from streams.sim.io import open_text


class TruthItem(Contract):
    truth_id: str
    scenario: str
    rule_id: str  # the catalog rule expected to detect it
    time: UtcDatetime  # earliest moment it is detectable: the event (or deadline) completing the pattern
    start: UtcDatetime  # first event of the planted incident
    location: GeoPoint | None = None
    event_ids: list[str] = Field(default_factory=list)
    severity: Annotated[int, Field(ge=1, le=5)] = 3  # 1 = most urgent, as an incident's priority
    note: str = ""


def write_truth(path: str | Path, items: Iterable[TruthItem]) -> int:
    n = 0
    with open_text(path, "w") as fh:
        for item in items:
            fh.write(item.model_dump_json(exclude_none=True) + "\n")
            n += 1
    return n


class TruthFileError(ValueError):
    """A line of a ground-truth file is not a ground-truth item (the message names the file and line)."""


def read_truth(path: str | Path) -> list[TruthItem]:
    items = []
    with open_text(path, "r") as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                items.append(TruthItem.model_validate_json(line))
            except ValidationError as exc:
                problem = exc.errors(include_url=False)[0]["msg"]
                raise TruthFileError(f"{path}:{n}: not a ground-truth line ({problem})") from None
    return items
