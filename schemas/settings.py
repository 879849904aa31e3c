"""One settings system for every deployable: frozen pydantic-settings models, read from an optional settings file,
then environment variables, then explicit values (command-line arguments), each winning over the one before.

    KafkaClientSettings.from_env()                        # SAQSHY_CONFIG file [kafka], then SAQSHY_KAFKA_* variables
    KafkaClientSettings.from_env(config="saqshy.toml", bootstrap_servers="k1:9092")   # an explicit file and value
    KafkaClientSettings(bootstrap_servers="k1:9092")      # explicit values only: reads no file and no variable

The settings file is TOML (`.toml`) or YAML (`.yaml`, `.yml`), one section per service (FILE_SECTIONS):

    [kafka]                      # every Kafka client of the engine (SAQSHY_KAFKA_*)
    bootstrap_servers = "k1:9093,k2:9093"
    security_protocol = "SASL_SSL"
    [kafka.extra]                # librdkafka properties, as SAQSHY_KAFKA_X_LINGER_MS=20
    "linger.ms" = 20
    [detector.kafka]             # the video detector's producer (SAQSHY_DETECTOR_KAFKA_*)
    [archive]                    # SAQSHY_ARCHIVE (the DSN), SAQSHY_ARCHIVE_*

Secrets are `SecretStr`: their value never appears in repr(), str(), model_dump_json(), logs or error messages;
only the client configuration dicts (`producer_config()`...) reveal them, to the client library. Errors are
`SettingsError`, naming the setting, its variable and its file key, never a secret's value.

The shared Kafka client model lives here, in the contract, because the detector (which may import only schemas)
and the engine's runtimes (streams/, jobs/) must parse the same variables the same way.
"""

from __future__ import annotations

import logging
import os
import re
import tomllib
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal, Self

from pydantic import Field, SecretStr, ValidationError, field_serializer, field_validator, model_validator
from pydantic_settings import BaseSettings, EnvSettingsSource, PydanticBaseSettingsSource, SettingsConfigDict

from schemas.partitioning import PARTITIONER

CONFIG_ENV = "SAQSHY_CONFIG"
LIBRDKAFKA_LOGGER = "saqshy.librdkafka"  # the logger every confluent-kafka client of the project logs through
# Top-level sections of the settings file -> what they configure. A section not listed is a typo: refused.
FILE_SECTIONS: dict[str, str] = {
    "kafka": "Kafka client of the engine: worker, topics, produce, tail, archiver, Flink job (SAQSHY_KAFKA_*)",
    "detector": "the video detector; [detector.kafka] is its producer (SAQSHY_DETECTOR_KAFKA_*)",
    "archive": "the ClickHouse archive and the archiver (SAQSHY_ARCHIVE, SAQSHY_ARCHIVE_*)",
    "worker": "the live correlation worker, `saqshy worker` (SAQSHY_WORKER_*)",
    "flink": "the Flink job, `saqshy flink run` (SAQSHY_FLINK_*)",
    "privacy": "pseudonymisation of personal data (SAQSHY_PSEUDONYM_SECRET)",
}
SETTINGS_SUFFIXES = (".toml", ".yaml", ".yml")
MASK = "**********"
# librdkafka properties whose value is a secret (or a private key): masked wherever settings are shown.
_SENSITIVE_PROPERTY = re.compile(r"password|secret|token|jaas|\.key\.pem|credential", re.IGNORECASE)


class SettingsError(ValueError):
    """A setting is missing, malformed or inconsistent, or the settings file is unreadable. The message names the
    setting, its environment variable and its file key, never the value of a secret."""


# --- the settings file ---------------------------------------------------------------------------------------
# The command line's --config, for the whole process (threads a command starts read the same settings).
_file_in_use: list[Path | None] = [None]


def settings_file(env: Mapping[str, str] | None = None, config: str | Path | None = None) -> Path | None:
    """The settings file in use: `config` if given, else the one the command line chose (`saqshy --config`,
    use_settings_file), else $SAQSHY_CONFIG, else none."""
    if config is not None and str(config) != "":
        return Path(config)
    if (chosen := _file_in_use[0]) is not None:
        return chosen
    raw = (os.environ if env is None else env).get(CONFIG_ENV)
    return Path(raw) if raw else None


def use_settings_file(path: str | Path | None) -> Callable[[], None]:
    """Make `path` the settings file of every `from_env()` in this process (the command line's --config);
    returns the function that undoes it."""
    before = _file_in_use[0]
    _file_in_use[0] = None if path is None else Path(path)

    def undo() -> None:
        _file_in_use[0] = before

    return undo


def check_settings_file(path: str | Path, models: Iterable[type[ServiceSettings]]) -> dict[str, Any]:
    """Read the file and refuse, by name, any key of a section that none of `models` knows (a typo)."""
    data = read_settings_file(path)
    allowed: dict[tuple[str, ...], set[str]] = {}
    for model in models:
        sec = model.file_section
        allowed.setdefault(sec, set()).update(model.model_fields)
        for i in range(1, len(sec)):
            allowed.setdefault(sec[:i], set()).add(sec[i])
    for sec, keys in sorted(allowed.items()):
        try:
            values = _section(data, sec)
        except SettingsError as exc:
            raise SettingsError(f"settings file {path}: {exc}") from None
        unknown = sorted(str(k) for k in set(values) - keys)
        if unknown:
            raise SettingsError(
                f"settings file {path}: [{'.'.join(sec)}] has unknown setting(s) {', '.join(unknown)} "
                f"(known: {', '.join(sorted(keys))})"
            )
    return data


def read_settings_file(path: str | Path) -> dict[str, Any]:
    """The whole settings file as nested dicts; SettingsError if it cannot be read or parsed, is not a mapping
    of sections, or has a section FILE_SECTIONS does not know."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in SETTINGS_SUFFIXES:
        raise SettingsError(f"settings file {path}: expected a .toml, .yaml or .yml file")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8")) if suffix == ".toml" else _read_yaml(path)
    except OSError as exc:
        raise SettingsError(f"settings file {path}: cannot read it ({exc.strerror or exc})") from None
    except UnicodeDecodeError:
        raise SettingsError(f"settings file {path}: not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"settings file {path}: invalid TOML: {exc}") from None
    if not isinstance(data, dict):
        raise SettingsError(f"settings file {path}: expected sections ([kafka], [archive]...) at the top level")
    unknown = sorted(str(k) for k in data if k not in FILE_SECTIONS)
    if unknown:
        raise SettingsError(
            f"settings file {path}: unknown section(s) {', '.join(unknown)} (known: {', '.join(FILE_SECTIONS)})"
        )
    for name, section in data.items():
        if not isinstance(section, dict):
            raise SettingsError(f"settings file {path}: [{name}] must be a section of settings, not a value")
    return data


def _read_yaml(path: Path) -> Any:
    """YAML through pydantic-settings' own YAML source (the contract does not import a YAML parser itself).
    A parse error names its line and column and the problem, never the text of the line (it may hold a secret)."""
    from pydantic_settings import YamlConfigSettingsSource

    class _WholeFile(BaseSettings):
        model_config = SettingsConfigDict(extra="allow")

    try:
        return YamlConfigSettingsSource(_WholeFile, yaml_file=path).yaml_data
    except (OSError, UnicodeDecodeError):
        raise
    except Exception as exc:  # yaml.YAMLError and its marked subclasses; else the source found no mapping
        if not type(exc).__module__.startswith("yaml"):
            raise SettingsError(
                f"settings file {path}: expected sections ([kafka], [archive]...) at the top level"
            ) from None
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or type(exc).__name__
        raise SettingsError(f"settings file {path}: invalid YAML{where}: {problem}") from None


def _section(data: Mapping[str, Any], path: tuple[str, ...]) -> dict[str, Any]:
    node: Any = data
    for key in path:
        node = node.get(key) if isinstance(node, dict) else None
        if node is None:
            return {}
    if not isinstance(node, dict):
        raise SettingsError(f"[{'.'.join(path)}] must be a section of settings, not a value")
    return node


# --- sources -------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Load:
    env: Mapping[str, str]
    file: Path | None
    data: Mapping[str, Any]


_LOADING: ContextVar[_Load | None] = ContextVar("saqshy_settings_loading", default=None)


class _EnvSource(EnvSettingsSource):
    """pydantic-settings' environment source over a given mapping, with the names a field had before this system
    (`env_aliases`, e.g. SAQSHY_ARCHIVE for the archive DSN) and the librdkafka convention PREFIX_X_<PROP>."""

    def __init__(self, settings_cls: type[ServiceSettings], env: Mapping[str, str]) -> None:
        self._source_env = env
        self._cls = settings_cls
        super().__init__(settings_cls)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        fold = (lambda k: k) if self.case_sensitive else str.lower
        return {fold(k): v for k, v in self._source_env.items() if not (self.env_ignore_empty and v == "")}

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        alias = self._cls.env_aliases.get(field_name)
        if alias is not None:  # the variable's one name (not also PREFIX + NAME)
            return self.env_vars.get(alias if self.case_sensitive else alias.lower()), field_name, False
        return super().get_field_value(field, field_name)

    def __call__(self) -> dict[str, Any]:
        data = super().__call__()
        if "extra" in self._cls.model_fields:
            head = self.env_prefix + "X_" if self.case_sensitive else (self.env_prefix + "X_").lower()
            props = {
                key[len(head) :].lower().replace("_", "."): value
                for key, value in self.env_vars.items()
                if key.startswith(head) and key != head and value is not None
            }
            if props:
                data["extra"] = {**data.get("extra", {}), **props}
        return data


class _FileSource(PydanticBaseSettingsSource):
    """The model's section of the settings file; a key the model does not know is refused by name."""

    def __init__(self, settings_cls: type[ServiceSettings], load: _Load) -> None:
        super().__init__(settings_cls)
        self._cls = settings_cls
        self._load = load

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:  # pragma: no cover - unused
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        if self._load.file is None:
            return {}
        try:
            values = _section(self._load.data, self._cls.file_section)
        except SettingsError as exc:
            raise SettingsError(f"settings file {self._load.file}: {exc}") from None
        unknown = sorted(set(values) - set(self._cls.model_fields))
        if unknown:
            raise SettingsError(
                f"settings file {self._load.file}: [{self._cls.section_name()}] has unknown setting(s) "
                f"{', '.join(unknown)} (known: {', '.join(self._cls.model_fields)})"
            )
        return dict(values)


# --- the base of every service's settings --------------------------------------------------------------------
class ServiceSettings(BaseSettings):
    """Frozen settings of one service. Subclasses set `env_prefix` (model_config), `file_section` and, for the
    variables that predate this system, `env_aliases`; `title` names them in messages."""

    model_config = SettingsConfigDict(frozen=True, extra="forbid", case_sensitive=False, env_ignore_empty=True)

    file_section: ClassVar[tuple[str, ...]] = ()
    env_aliases: ClassVar[Mapping[str, str]] = {}
    title: ClassVar[str] = "settings"

    def __init__(self, **values: Any) -> None:
        try:
            super().__init__(**values)
        except ValidationError as exc:
            raise SettingsError(self._describe(exc)) from None

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Explicit values, then the environment, then the settings file; only `from_env` reads the last two."""
        load = _LOADING.get()
        if load is None:
            return (init_settings,)
        return (init_settings, _EnvSource(cls, load.env), _FileSource(cls, load))

    @classmethod
    def from_env(
        cls, env: Mapping[str, str] | None = None, *, config: str | Path | None = None, **overrides: Any
    ) -> Self:
        """Settings from the settings file (`config`, else $SAQSHY_CONFIG), then the environment (`env`, else
        os.environ), then `overrides` (None values are left out: an option the user did not give)."""
        env = os.environ if env is None else env
        path = settings_file(env, config)
        data = read_settings_file(path) if path is not None else {}
        token = _LOADING.set(_Load(env, path, data))
        try:
            return cls(**{k: v for k, v in overrides.items() if v is not None})
        finally:
            _LOADING.reset(token)

    # --- names, for messages, --help and docs -----------------------------------------------------------------
    @classmethod
    def env_name(cls, field: str) -> str:
        if field in cls.env_aliases:
            return cls.env_aliases[field]
        return str(cls.model_config.get("env_prefix", "")) + field.upper()

    @classmethod
    def section_name(cls) -> str:
        return ".".join(cls.file_section)

    @classmethod
    def is_secret(cls, field: str) -> bool:
        info = cls.model_fields.get(field)
        return info is not None and "SecretStr" in str(info.annotation)

    @classmethod
    def describe(cls) -> Iterator[tuple[str, str, str, str]]:
        """(file key, environment variable, default, description) of every setting."""
        for name, info in cls.model_fields.items():
            default = "" if info.is_required() else info.get_default(call_default_factory=True)
            if isinstance(default, SecretStr):  # a default is no secret (a DSN without a password)
                default = default.get_secret_value()
            shown = "" if default is None or default == {} else f"{default}"
            env = str(cls.model_config.get("env_prefix", "")) + "X_<PROP>" if name == "extra" else cls.env_name(name)
            yield f"[{cls.section_name()}] {name}", env, shown, info.description or ""

    @classmethod
    def _describe(cls, exc: ValidationError) -> str:
        problems = []
        for err in exc.errors(include_url=False, include_context=False):
            loc = [str(p) for p in err["loc"]]
            msg = err["msg"].removeprefix("Value error, ").removeprefix("Assertion failed, ")
            if not loc or (loc[0] not in cls.model_fields and err["type"] != "extra_forbidden"):
                problems.append(msg)
                continue
            name = loc[0]
            where = f"{name} ({cls.env_name(name)}" + (f", [{cls.section_name()}] {name}" if cls.file_section else "")
            where += ")"
            if err["type"] == "extra_forbidden":
                problems.append(f"unknown setting {'.'.join(loc)}")
                continue
            value = err.get("input")
            shown = name != "extra" and not cls.is_secret(name) and isinstance(value, str | int | float)
            if shown and value != "" and str(value) not in msg:
                msg += f", got {value!r}"
            sub = "." + ".".join(loc[1:]) if len(loc) > 1 else ""
            problems.append(f"{where}{sub}: {msg}")
        return f"{cls.title}: " + "; ".join(problems)

    def __repr_args__(self) -> Any:
        for name, value in super().__repr_args__():
            yield name, (mask_properties(value) if name == "extra" and isinstance(value, Mapping) else value)


def mask_properties(props: Mapping[str, Any]) -> dict[str, Any]:
    """Client properties as they may be shown: the value of a secret-looking property masked."""
    return {k: (MASK if _SENSITIVE_PROPERTY.search(k) else v) for k, v in props.items()}


# --- Kafka ---------------------------------------------------------------------------------------------------
SecurityProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
SaslMechanism = Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]  # what librdkafka, aiokafka and Java all take
PropertyValue = str | int | float | bool
_HOST = re.compile(r"^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]+)$")


def check_bootstrap(value: str) -> str:
    """`HOST:PORT[,HOST:PORT...]` (an optional `scheme://` per server), normalised without spaces."""
    servers = [s.strip() for s in str(value).split(",")]
    if not any(servers):
        raise ValueError("expected HOST:PORT[,HOST:PORT...], got nothing")
    for server in servers:
        hostport = server.split("://", 1)[1] if "://" in server else server
        host, sep, port = hostport.rpartition(":")
        if not server:
            raise ValueError("an empty server in the list (two commas?)")
        if not sep or not host:
            raise ValueError(f"{server!r} is not HOST:PORT")
        if not _HOST.match(host):
            raise ValueError(f"{server!r}: {host!r} is not a host name or address")
        if not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"{server!r}: port {port!r} is not a number from 1 to 65535")
    return ",".join(servers)


class KafkaClientSettings(ServiceSettings):
    """How a Kafka client reaches the cluster: servers, identity, security and extra librdkafka properties. The
    same values become the confluent-kafka configuration dicts of a producer, a consumer and an admin client."""

    model_config = SettingsConfigDict(env_prefix="SAQSHY_KAFKA_")
    file_section: ClassVar[tuple[str, ...]] = ("kafka",)
    title: ClassVar[str] = "Kafka settings"

    bootstrap_servers: str = Field("127.0.0.1:9092", description="Kafka brokers, HOST:PORT[,HOST:PORT...].")
    client_id: str = Field("saqshy", min_length=1, description="client.id the brokers see in logs and quotas.")
    security_protocol: SecurityProtocol = Field("PLAINTEXT", description="PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL.")
    sasl_mechanism: SaslMechanism | None = Field(
        None, description="PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512 (with a SASL_* protocol)."
    )
    sasl_username: str | None = Field(None, description="SASL user name.")
    sasl_password: SecretStr | None = Field(None, description="SASL password (a secret: never shown).")
    ssl_cafile: str | None = Field(None, description="PEM file of the CA certificates that sign the brokers'.")
    ssl_certfile: str | None = Field(None, description="PEM file of this client's certificate (mutual TLS).")
    ssl_keyfile: str | None = Field(None, description="PEM file of this client's private key (mutual TLS).")
    topic_prefix: str = Field("", description='Prefix of every topic name, e.g. "kz." for a per-country cluster.')
    extra: Mapping[str, PropertyValue] = Field(
        default_factory=dict,
        description="Extra librdkafka properties, passed through as given and winning over the built-in "
        'defaults: variable PREFIX_X_LINGER_MS=20 is linger.ms; in the file, an extra table: "linger.ms" = 20.',
    )

    @field_validator("bootstrap_servers")
    @classmethod
    def _bootstrap(cls, value: str) -> str:
        return check_bootstrap(value)

    @field_validator("security_protocol", "sasl_mechanism", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return value.strip().upper() if isinstance(value, str) else value

    @field_validator("ssl_cafile", "ssl_certfile", "ssl_keyfile")
    @classmethod
    def _file_exists(cls, value: str | None) -> str | None:
        if value is not None and not Path(value).is_file():
            raise ValueError(f"no such file: {value}")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        sasl = self.security_protocol.startswith("SASL")
        env = type(self).env_name
        if sasl and not (self.sasl_mechanism and self.sasl_username):
            raise ValueError(
                f"{self.security_protocol} needs sasl_mechanism and sasl_username "
                f"({env('sasl_mechanism')}, {env('sasl_username')})"
            )
        if sasl and self.sasl_password is None:
            raise ValueError(
                f"{self.security_protocol} with {self.sasl_mechanism} needs sasl_password ({env('sasl_password')})"
            )
        if not sasl and self.sasl_mechanism:
            raise ValueError(
                f"sasl_mechanism is set but security_protocol is {self.security_protocol} "
                "(SASL needs SASL_PLAINTEXT or SASL_SSL)"
            )
        return self

    @field_serializer("extra")
    def _masked(self, value: Mapping[str, PropertyValue]) -> dict[str, Any]:
        return mask_properties(value)

    # --- confluent-kafka ---------------------------------------------------------------------------------
    def common_config(self) -> dict[str, Any]:
        """bootstrap.servers, client.id, security.* and the extra properties; the one place the password is read."""
        conf: dict[str, Any] = {
            "bootstrap.servers": self.bootstrap_servers,
            "client.id": self.client_id,
            "security.protocol": self.security_protocol,
            # librdkafka's own lines through Python logging (the process's handlers and format, JSON included),
            # delivered when the client is polled, instead of raw text on stderr
            "logger": logging.getLogger(LIBRDKAFKA_LOGGER),
        }
        if self.sasl_mechanism:
            conf["sasl.mechanism"] = self.sasl_mechanism
            conf["sasl.username"] = self.sasl_username
            conf["sasl.password"] = self.sasl_password.get_secret_value() if self.sasl_password else ""
        for key, value in (
            ("ssl.ca.location", self.ssl_cafile),
            ("ssl.certificate.location", self.ssl_certfile),
            ("ssl.key.location", self.ssl_keyfile),
        ):
            if value:
                conf[key] = value
        conf.update(self.extra)
        return conf

    def producer_defaults(self) -> dict[str, Any]:
        """Idempotent producer (no duplicates on retry, order kept per partition), batched for throughput
        without holding a message back more than a few milliseconds."""
        return {
            "enable.idempotence": True,
            "acks": "all",
            # every producer of events must map a key to the partition that `saqshy produce` does (event topics are
            # co-partitioned): Kafka's default partitioner, not librdkafka's own (CRC32)
            "partitioner": PARTITIONER,
            "linger.ms": 5,
            "batch.num.messages": 10000,
            "compression.type": "lz4",
            "message.max.bytes": 4 * 1024 * 1024,
        }

    def producer_config(self, **overrides: Any) -> dict[str, Any]:
        conf = self.common_config()
        conf.update(self.producer_defaults())
        conf.update(self.extra)  # the operator's librdkafka settings win over these defaults
        conf.update(overrides)
        return conf

    def consumer_config(self, group_id: str, **overrides: Any) -> dict[str, Any]:
        """Offsets are committed by the caller after its outputs are durable (at-least-once)."""
        conf = self.common_config()
        conf.update(
            {
                "group.id": group_id,
                "enable.auto.commit": False,
                "auto.offset.reset": "earliest",
                "enable.partition.eof": False,
                "fetch.max.bytes": 8 * 1024 * 1024,
                "max.partition.fetch.bytes": 4 * 1024 * 1024,
            }
        )
        conf.update(self.extra)
        conf.update(overrides)
        return conf

    def admin_config(self) -> dict[str, Any]:
        return self.common_config()
