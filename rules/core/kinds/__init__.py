"""The correlation kinds, one module each (its compile step lives in rules/compiler.py, its spec in
rules/model.py). Adding a kind: a Kind subclass in its own module and one line in KINDS."""

from __future__ import annotations

from rules.core.kinds.absence import AbsenceKind
from rules.core.kinds.base import Kind
from rules.core.kinds.cooccur import CooccurKind
from rules.core.kinds.lookup import LookupKind
from rules.core.kinds.match import MatchKind
from rules.core.kinds.sequence import SequenceKind
from rules.core.kinds.threshold import ThresholdKind

KINDS: dict[str, type[Kind]] = {
    "match": MatchKind,
    "lookup": LookupKind,
    "threshold": ThresholdKind,
    "cooccur": CooccurKind,
    "sequence": SequenceKind,
    "absence": AbsenceKind,
}

__all__ = ["KINDS", "Kind"]
