"""The command line's side of the settings system (schemas.settings).

Every service's settings come from the settings file (`saqshy --config FILE` or $SAQSHY_CONFIG), then environment
variables, then the command's options, each winning over the one before. An option that configures a setting has
no default of its own (None: not given); its help says the setting's default, variable and file key (`setting`).
Values the command line can check on its own (a bootstrap list, a DSN) are click types, so a bad one is a usage
error (exit 2) naming the option.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import click

from schemas.settings import ServiceSettings, check_bootstrap

if TYPE_CHECKING:
    from jobs.archive.settings import ArchiveSettings

F = TypeVar("F", bound=Callable[..., Any])


def models() -> list[type[ServiceSettings]]:
    """Every service's settings model: the keys a settings file may have (imported here, on use)."""
    from detectors.publish import DetectorKafkaSettings
    from jobs.archive.settings import ArchiveSettings
    from jobs.flink.settings import FlinkSettings
    from rules.privacy import PseudonymSettings
    from streams.kafka.settings import KafkaSettings, WorkerSettings

    return [KafkaSettings, DetectorKafkaSettings, ArchiveSettings, WorkerSettings, FlinkSettings, PseudonymSettings]


def setting_help(model: type[ServiceSettings], field: str, text: str | None = None) -> str:
    """An option's help: what the setting is, its default, its variable and its key in the settings file."""
    info = model.model_fields[field]
    default = next(d for key, _, d, _ in model.describe() if key.endswith(f" {field}"))
    where = f"env {model.env_name(field)}, file [{model.section_name()}] {field}"
    text = text or info.description or ""
    if "[default:" in text:  # the description says it better than the value (None: the hostname...)
        return f"{text} [{where}]"
    return f"{text} [default: {default or 'none'}; {where}]"


def setting(
    model: type[ServiceSettings], field: str, *decls: str, help: str | None = None, **kw: Any
) -> Callable[[F], F]:
    """A click option for one setting of `model`: None unless given, so the file and the environment apply."""
    return click.option(*decls, default=None, show_default=False, help=setting_help(model, field, help), **kw)


class BootstrapType(click.ParamType):
    """HOST:PORT[,HOST:PORT...], checked as the settings check it."""

    name = "HOST:PORT[,...]"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        try:
            return check_bootstrap(str(value))
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


class DsnType(click.ParamType):
    """An archive DSN: chdb://PATH or http(s)://host:port; a password in it is masked in the error."""

    name = "DSN"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        from jobs.archive.settings import check_dsn

        try:
            return check_dsn(str(value))
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


BOOTSTRAP = BootstrapType()
DSN = DsnType()


def archive_options(fn: F) -> F:
    """--archive and --database: the archive of every command that reads or writes it (ArchiveSettings)."""
    from jobs.archive.settings import ArchiveSettings

    fn = setting(ArchiveSettings, "database", "--database")(fn)
    dsn_help = "The archive: chdb://PATH (embedded) or http(s)://host:8123 (a server; a password in it is never shown)."
    return setting(ArchiveSettings, "dsn", "--archive", "dsn", type=DSN, help=dsn_help)(fn)


def archive_settings(dsn: str | None, database: str | None, **more: Any) -> ArchiveSettings:
    """ArchiveSettings from the file, the environment and these options."""
    from jobs.archive.settings import ArchiveSettings

    return ArchiveSettings.from_env(dsn=dsn, database=database, **more)
