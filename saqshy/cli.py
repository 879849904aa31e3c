"""`saqshy` entry point. Commands live in saqshy/commands/*; each is imported only when it runs,
so `saqshy rules lint` never pays for OpenCV or Kafka imports."""

from __future__ import annotations

import importlib

import click

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
}


class LazyGroup(click.Group):
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
@click.version_option(package_name="saqshy")
def main() -> None:
    """Saqshy: correlate a Safe City's events into prioritized incidents."""


if __name__ == "__main__":
    main()
