"""`saqshy forecast fit|predict|evaluate|map`: hotspot forecasts from the archive."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from functools import wraps
from pathlib import Path
from typing import Any, TypeVar

import click

from saqshy.settings import archive_options, archive_settings

F = TypeVar("F", bound=Callable[..., Any])
MODEL_NAMES = ("naive", "seasonal", "kde", "etas")
HORIZON_NAMES = ("24h", "7d", "30d")


def _selection_options(fn: F) -> F:
    """The options every subcommand shares: where the archive is and which points on which grid."""
    options = [
        archive_options,
        click.option(
            "--layer",
            type=click.Choice(["incident", "call.112", "accident.record", "sos.press"]),
            default="call.112",
            show_default=True,
            help="Incidents Saqshy produced, or located events as archived.",
        ),
        click.option("--category", "categories", multiple=True, help="Only these categories (repeatable)."),
        click.option("--resolution", type=click.IntRange(5, 11), default=9, show_default=True, help="H3 resolution."),
        click.option(
            "--study-area",
            type=click.Choice(["cells", "hull"]),
            default="cells",
            show_default=True,
            help="cells: cells with any point in the archive; hull: their convex hull filled.",
        ),
    ]
    for opt in reversed(options):
        fn = opt(fn)
    return fn


def _utc(value: datetime | None) -> datetime | None:
    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


def _session(fn: F) -> F:
    """Open the archive, build the selection, turn archive errors into clean command errors."""

    @wraps(fn)
    def wrapper(
        dsn: str | None,
        database: str | None,
        layer: str,
        categories: tuple[str, ...],
        resolution: int,
        study_area: str,
        **kw: Any,
    ) -> Any:
        from jobs.archive import ArchiveError
        from jobs.archive.dsn import connect
        from jobs.archive.migrate import require_schema
        from jobs.forecast.data import Selection

        archive = archive_settings(dsn, database)
        try:
            sel = Selection(layer, tuple(categories), resolution, study_area)
            client = connect(archive.url)
            try:  # closed on every path: embedded chDB holds its directory until then
                require_schema(client, archive.database)
                return fn(client=client, db=archive.database, sel=sel, **kw)
            finally:
                client.close()
        except ArchiveError as exc:
            raise click.ClickException(str(exc)) from exc

    return wrapper  # type: ignore[return-value]


_TIME = click.DateTime(["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S"])


@click.group("forecast")
def forecast() -> None:
    """Short- (24 h, 7 days) and long-term (30 days) hotspot forecasts per H3 cell and admin area."""


@forecast.command("fit")
@_selection_options
@click.option("--model", "models", type=click.Choice(MODEL_NAMES), multiple=True, help="[default: all]")
@click.option("--until", type=_TIME, help="Fit on points before this UTC time [default: the archive's last].")
@click.option("--history-days", type=float, help="Only this many days before --until [default: everything].")
@_session
def fit_cmd(
    client: Any, db: str, sel: Any, models: tuple[str, ...], until: datetime | None, history_days: float | None
) -> None:
    """Fit models on the archive and save their states (forecast_models)."""
    import orjson

    from jobs.forecast.run import fit

    for fitted in fit(client, db, sel, models or MODEL_NAMES, until=_utc(until), history_days=history_days):
        click.echo(orjson.dumps(fitted.summary()).decode())


@forecast.command("predict")
@_selection_options
@click.option("--model", "models", type=click.Choice(MODEL_NAMES), multiple=True, help="[default: all]")
@click.option("--horizon", "horizons", type=click.Choice(HORIZON_NAMES), multiple=True, help="[default: 24h]")
@click.option("--at", type=_TIME, help="Forecast period start, UTC [default: the end of the fit's data].")
@click.option("--top", default=5, show_default=True, help="Print this many hottest cells.")
@_session
def predict_cmd(
    client: Any, db: str, sel: Any, models: tuple[str, ...], horizons: tuple[str, ...], at: datetime | None, top: int
) -> None:
    """Predict from the latest fits and write the forecasts table (a row per cell and per admin area)."""
    import orjson

    from jobs.forecast.run import predict

    for name in models or MODEL_NAMES:
        for horizon in horizons or ("24h",):
            p = predict(client, db, sel, name, horizon, at=_utc(at))
            order = p.expected.argsort()[::-1][:top]
            grid = p.model.grid
            summary = {
                "model": name,
                "horizon": horizon,
                "from": p.start.isoformat(),
                "to": p.end.isoformat(),
                "expected_total": round(float(p.expected.sum()), 2),
                "predict_s": p.predict_s,
                "run_id": p.run.run_id if p.run else None,
                "rows": p.run.rows if p.run else 0,
                "top": [[f"{int(grid.cells[i]):x}", round(float(p.expected[i]), 3)] for i in order],
            }
            click.echo(orjson.dumps(summary).decode())


@forecast.command("evaluate")
@_selection_options
@click.option("--model", "models", type=click.Choice(MODEL_NAMES), multiple=True, help="[default: all]")
@click.option("--horizon", type=click.Choice(HORIZON_NAMES), default="24h", show_default=True, help="Forecast period.")
@click.option("--warmup-days", type=float, default=7.0, show_default=True, help="History before the first cut.")
@click.option("--max-folds", type=int, help="Only the last N daily cuts.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the tie-breaking shuffle.")
@click.option("--json", "json_out", type=click.Path(dir_okay=False, path_type=Path), help="Also write the figures.")
@_session
def evaluate_cmd(
    client: Any,
    db: str,
    sel: Any,
    models: tuple[str, ...],
    horizon: str,
    warmup_days: float,
    max_folds: int | None,
    seed: int,
    json_out: Path | None,
) -> None:
    """Rolling-origin evaluation: fit before each UTC midnight, score the next period; hit rate and PAI."""
    import orjson

    from jobs.forecast.run import evaluate_archive

    ev = evaluate_archive(
        client,
        db,
        sel,
        models or MODEL_NAMES,
        horizon,
        warmup_days=warmup_days,
        max_folds=max_folds,
        seed=seed,
        progress=lambda s: click.echo(s, err=True),
    )
    click.echo(f"{horizon} horizon, {len(ev.cuts)} folds, {ev.n_cells:,} cells ({sel.study_area}), seed {seed}\n")
    click.echo(ev.table())
    if json_out:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_bytes(orjson.dumps(ev.as_dict(), option=orjson.OPT_INDENT_2))


@forecast.command("map")
@_selection_options
@click.option("--model", type=click.Choice(MODEL_NAMES), required=True, help="Whose latest forecast to map.")
@click.option("--horizon", type=click.Choice(HORIZON_NAMES), default="24h", show_default=True, help="Forecast period.")
@click.option("--top-pct", type=click.FloatRange(0.01, 100), default=5.0, show_default=True, help="% of area flagged.")
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("build/forecast-map.html"),
    show_default=True,
    help="The HTML page (the PNG goes next to it).",
)
@click.option("--title", default="Saqshy hotspot forecast", show_default=True, help="Title of the page and the PNG.")
@_session
def map_cmd(client: Any, db: str, sel: Any, model: str, horizon: str, top_pct: float, out: Path, title: str) -> None:
    """The latest forecast on the crime map: flagged cells outlined over what happened in its period."""
    from jobs.crimemap.render import write_html, write_png
    from jobs.forecast.mapping import forecast_map
    from jobs.forecast.store import latest_forecast

    fc = latest_forecast(client, db, model, horizon, sel.layer)
    data = forecast_map(client, db, fc, model, horizon, top_pct)
    write_html(data, out, title)
    png = out.with_suffix(".png")
    write_png(data, png, title)
    click.echo(f"{len(data.flagged)} flagged cells, {data.total:,} {fc.layer} in the period -> {out}, {png}")
