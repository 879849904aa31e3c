"""Licence plates: normalisation and fuzzy lookup by edit distance (symmetric-delete index)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from itertools import combinations

# Cyrillic letters that look like Latin ones on plates (KZ/UZ/RU plates mix both in the wild).
_HOMOGLYPHS = str.maketrans("АВЕКМНОРСТУХ", "ABEKMHOPCTYX")
_DROP = str.maketrans("", "", " -_.·")


def normalize_plate(plate: str) -> str:
    return plate.upper().translate(_HOMOGLYPHS).translate(_DROP)


def deletes(word: str, k: int) -> Iterator[str]:
    """Every string made by deleting up to k characters (including none)."""
    yield word
    for n in range(1, min(k, len(word)) + 1):
        for idx in combinations(range(len(word)), n):
            skip = set(idx)
            yield "".join(c for i, c in enumerate(word) if i not in skip)


def edit_distance(a: str, b: str, limit: int) -> int:
    """Damerau-Levenshtein (optimal string alignment) distance, or limit + 1 when larger."""
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    prev2: list[int] = []
    prev = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        cur = [i] + [0] * len(b)
        best = cur[0]
        for j in range(1, len(b) + 1):
            cost = 0 if a[i - 1] == b[j - 1] else 1
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                cur[j] = min(cur[j], prev2[j - 2] + 1)
            best = min(best, cur[j])
        if best > limit:
            return limit + 1
        prev2, prev = prev, cur
    return prev[-1]


class FuzzyIndex:
    """Plates within edit distance k of a query in O(len^k) dictionary probes instead of a scan."""

    def __init__(self, k: int):
        self.k = k
        self._by_delete: dict[str, set[str]] = {}

    def add(self, plate: str) -> None:
        for variant in deletes(plate, self.k):
            self._by_delete.setdefault(variant, set()).add(plate)

    def remove(self, plate: str) -> None:
        for variant in deletes(plate, self.k):
            bucket = self._by_delete.get(variant)
            if bucket is not None:
                bucket.discard(plate)
                if not bucket:
                    del self._by_delete[variant]

    def search(self, query: str) -> list[tuple[int, str]]:
        """(distance, plate) for every indexed plate within k, nearest first."""
        found: set[str] = set()
        for variant in deletes(query, self.k):
            found.update(self._by_delete.get(variant, ()))
        scored = ((edit_distance(query, p, self.k), p) for p in found)
        return sorted(s for s in scored if s[0] <= self.k)

    def bulk(self, plates: Iterable[str]) -> None:
        for p in plates:
            self.add(p)
