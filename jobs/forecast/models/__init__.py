"""The forecasting models, by name."""

from __future__ import annotations

from jobs.archive.errors import ArchiveError
from jobs.forecast.grid import Grid
from jobs.forecast.models.base import Model, rank_cells
from jobs.forecast.models.etas import Etas
from jobs.forecast.models.kde import Kde
from jobs.forecast.models.naive import Naive
from jobs.forecast.models.seasonal import Seasonal

MODELS: dict[str, type[Model]] = {m.name: m for m in (Naive, Seasonal, Kde, Etas)}


def make_model(name: str, grid: Grid) -> Model:
    try:
        return MODELS[name](grid)
    except KeyError:
        raise ArchiveError(f"model {name!r}: one of {', '.join(MODELS)}") from None


__all__ = ["MODELS", "Etas", "Kde", "Model", "Naive", "Seasonal", "make_model", "rank_cells"]
