"""`saqshy` entry point. Commands live in saqshy/commands/*; each is imported only when it runs,
so `saqshy rules lint` never pays for OpenCV or Kafka imports.

Errors are one line, `Error: ...`, never a traceback: a bad value on the command line is a usage error (exit 2,
click), a bad setting (settings file, environment) too (exit 2), and what the project's packages raise at run time
(their exceptions, whatever their base), or the operating system (OSError), is exit 1. `saqshy --debug` or
SAQSHY_DEBUG=1 lets the traceback through. A bug (any other exception) keeps its traceback.
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path
from typing import Any

import click

from saqshy.logs import FORMAT_ENV, FORMATS, LEVEL_ENV, LEVELS, configure, defaults
from schemas.settings import CONFIG_ENV, SettingsError, check_settings_file, use_settings_file

DEBUG_ENV = "SAQSHY_DEBUG"
# The project's packages: an exception class defined in one of them is the project's own (an error to report).
PROJECT_PACKAGES = ("schemas", "rules", "streams", "jobs", "detectors", "infra", "saqshy")
# Optional extras (pyproject.toml) and the modules that need them, for the message of a missing one.
EXTRAS = {
    "cv2": "video",
    "onnxruntime": "video",
    "confluent_kafka": "kafka",
    "faust": "kafka",
    "aiokafka": "kafka",
    "prometheus_client": "kafka",
    "clickhouse_connect": "archive",
    "chdb": "archive",
    "pyflink": "flink",
}

# name -> (module, attribute, one-line help). Explicit registry: nothing is discovered at import time.
COMMANDS: dict[str, tuple[str, str, str]] = {
    "schemas": ("saqshy.commands.schemas_cmd", "schemas", "Export the event contract as JSON Schema."),
    "rules": ("saqshy.commands.rules_cmd", "rules", "Lint, test, explain and describe rule files."),
    "replay": ("saqshy.commands.replay_cmd", "replay", "Run the embedded runner over an events file."),
    "simulate": ("saqshy.commands.simulate_cmd", "simulate", "Generate a simulated city stream."),
    "evaluate": ("saqshy.commands.evaluate_cmd", "evaluate", "Score incidents against ground truth."),
    "import": ("saqshy.commands.import_cmd", "import_", "Turn real public data files into events."),
    "topics": ("saqshy.commands.kafka_cmd", "topics", "Create the Kafka topics of infra/topics.yaml."),
    "produce": ("saqshy.commands.kafka_cmd", "produce", "Replay an events file into the Kafka event topics."),
    "tail": ("saqshy.commands.kafka_cmd", "tail", "Print a Kafka topic's messages."),
    "worker": ("saqshy.commands.kafka_cmd", "worker", "Run the live correlation worker on Kafka."),
    "detect": ("saqshy.commands.detect_cmd", "detect", "Run a video detector worker on a camera."),
    "db": ("saqshy.commands.db_cmd", "db", "Archive schema: apply ClickHouse migrations, access SQL."),
    "archive": ("saqshy.commands.archive_cmd", "archive", "Archive Kafka events and incidents to ClickHouse."),
    "map": ("saqshy.commands.map_cmd", "map_", "Write the crime map (HTML + PNG) from the archive."),
    "forecast": ("saqshy.commands.forecast_cmd", "forecast", "Fit, predict and evaluate hotspot forecasts."),
    "flink": ("saqshy.commands.flink_cmd", "flink", "Run the correlation job on Apache Flink."),
    "console": ("saqshy.commands.console_cmd", "console", "Serve the operator console (live map and incident desk)."),
    "audit": ("saqshy.commands.audit_cmd", "audit", "Query the operator console's audit log."),
    "native": ("saqshy.commands.native_cmd", "native_group", "Build the core compiled with mypyc, or remove it."),
}


class ConfigError(click.ClickException):
    """A bad setting (settings file or environment): a usage error, exit 2, one line."""

    exit_code = 2


def _is_project_error(exc: BaseException) -> bool:
    return any(cls.__module__.split(".")[0] in PROJECT_PACKAGES for cls in type(exc).__mro__)


def _message(exc: BaseException) -> str:
    return str(exc).strip() or type(exc).__name__


def user_error(exc: Exception) -> click.ClickException | None:
    """The message an error of the user's or of the environment gets, or None for a bug (keeps its traceback)."""
    if isinstance(exc, SettingsError):
        return ConfigError(str(exc))
    if isinstance(exc, ModuleNotFoundError) and exc.name and exc.name.split(".")[0] not in PROJECT_PACKAGES:
        top = exc.name.split(".")[0]
        extra = EXTRAS.get(top)
        hint = f" (pip install 'saqshy[{extra}]')" if extra else ""
        return click.ClickException(f"this command needs the Python package {top!r}{hint}")
    if isinstance(exc, OSError):
        where = f": {exc.filename}" if getattr(exc, "filename", None) else ""
        return click.ClickException(f"{exc.strerror or _message(exc)}{where}")
    if _is_project_error(exc):
        return click.ClickException(_message(exc))
    return None


class LazyGroup(click.Group):
    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except Exception as exc:
            if ctx.params.get("debug") or os.environ.get(DEBUG_ENV, "") not in {"", "0"}:
                raise
            error = user_error(exc)
            if error is None:
                raise
            raise error from None

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        spec = COMMANDS.get(cmd_name)
        if spec is None:
            return None
        module = importlib.import_module(spec[0])
        command: click.Command = getattr(module, spec[1])
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, COMMANDS[name][2]) for name in sorted(COMMANDS)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup)
@click.option(
    "--config",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    envvar=CONFIG_ENV,
    help="Settings file (.toml or .yaml), one section per service ([kafka], [archive], [worker]...); environment "
    f"variables win over it, options over both [env {CONFIG_ENV}]. See docs/configuration.md.",
)
@click.option("--debug", is_flag=True, help=f"Show the Python traceback of an error [env {DEBUG_ENV}=1].")
@click.option(
    "--log-level",
    type=click.Choice(LEVELS, case_sensitive=False),
    envvar=LEVEL_ENV,
    default=None,
    help=f"Log level on stderr [env {LEVEL_ENV}; default: INFO for worker, archive, detect and flink, WARNING else].",
)
@click.option(
    "--log-format",
    type=click.Choice(FORMATS),
    envvar=FORMAT_ENV,
    default=None,
    help=f"Log lines as text or JSON objects [env {FORMAT_ENV}; default: json for the services, text else].",
)
@click.version_option(package_name="saqshy")
@click.pass_context
def main(ctx: click.Context, config: Path | None, debug: bool, log_level: str | None, log_format: str | None) -> None:
    """Saqshy: correlate a Safe City's events into prioritized incidents."""
    level, fmt = defaults(ctx.invoked_subcommand)
    configure(log_level or level, log_format or fmt)  # type: ignore[arg-type]
    if config is not None:
        from saqshy.settings import models

        try:
            check_settings_file(config, models())
        except SettingsError as exc:
            raise click.BadParameter(str(exc), param_hint="'--config'") from None
    ctx.call_on_close(use_settings_file(config))


if __name__ == "__main__":
    main()
