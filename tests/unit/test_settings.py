"""One settings system (schemas.settings): environment, settings file and command line in that order of weight,
the librdkafka extra-property convention, secrets that never show, and clear errors."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from click.testing import CliRunner

from detectors.publish import DetectorKafkaSettings
from jobs.archive.settings import ArchiveSettings
from jobs.flink.settings import FlinkSettings
from rules.privacy import PrivacyError, PrivacySettings
from saqshy.cli import main
from saqshy.settings import models
from schemas.settings import CONFIG_ENV, KafkaClientSettings, SettingsError, read_settings_file
from streams.kafka.settings import KafkaSettings, KafkaSettingsError, WorkerSettings

ROOT = Path(__file__).resolve().parents[2]
SECRET = "pw-0xDEADBEEF-secret"
SECURE = {
    "SECURITY_PROTOCOL": "SASL_SSL",
    "SASL_MECHANISM": "SCRAM-SHA-256",
    "SASL_USERNAME": "saqshy",
    "SASL_PASSWORD": SECRET,
}

TOML = f"""
[kafka]
bootstrap_servers = "file1:9092,file2:9092"
client_id = "from-file"
topic_prefix = "file."
[kafka.extra]
"linger.ms" = 50
"queue.buffering.max.kbytes" = 2048

[detector.kafka]
linger_ms = 7
dead_letters = "/var/lib/saqshy/dlq.jsonl"

[archive]
dsn = "http://reader:{SECRET}@ch:8123"
database = "city"

[worker]
group = "file-group"
commit_interval = 0.1
"""

YAML = """
kafka:
  bootstrap_servers: yfile:9092
  extra: {"linger.ms": 50}
worker:
  group: yaml-group
"""


@pytest.fixture
def toml_file(tmp_path: Path) -> Path:
    path = tmp_path / "saqshy.toml"
    path.write_text(TOML)
    return path


# --- where values come from ---------------------------------------------------------------------------------
def test_environment_variables_are_parsed() -> None:
    env = {"SAQSHY_KAFKA_BOOTSTRAP_SERVERS": "k1:9093, k2:9093", **{f"SAQSHY_KAFKA_{k}": v for k, v in SECURE.items()}}
    s = KafkaSettings.from_env(env)
    assert s.bootstrap_servers == "k1:9093,k2:9093" and s.security_protocol == "SASL_SSL"
    assert s.sasl_password is not None and s.sasl_password.get_secret_value() == SECRET
    w = WorkerSettings.from_env({"SAQSHY_WORKER_COMMIT_INTERVAL": "0.5", "SAQSHY_WORKER_METRICS_PORT": "9108"})
    assert (w.commit_interval, w.metrics_port, w.group) == (0.5, 9108, "saqshy-worker")
    a = ArchiveSettings.from_env({"SAQSHY_ARCHIVE": "http://ch:8123", "SAQSHY_ARCHIVE_DATABASE": "x"})
    assert (a.url, a.database) == ("http://ch:8123", "x")
    f = FlinkSettings.from_env({"SAQSHY_FLINK_PARALLELISM": "4", "SAQSHY_FLINK_JOBMANAGER": "jm:8081"})
    assert (f.parallelism, f.jobmanager) == (4, "jm:8081")
    # lower-case protocol names are librdkafka's too; an empty variable is an unset one
    assert KafkaSettings.from_env(
        {"SAQSHY_KAFKA_SECURITY_PROTOCOL": "ssl", "SAQSHY_KAFKA_CLIENT_ID": ""}
    ).client_id == ("saqshy")


def test_explicit_values_read_neither_file_nor_environment(toml_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SAQSHY_KAFKA_TOPIC_PREFIX", "env.")
    monkeypatch.setenv(CONFIG_ENV, str(toml_file))
    assert KafkaSettings(bootstrap_servers="k:1").topic_prefix == ""
    assert KafkaSettings.from_env().topic_prefix == "env."  # from_env reads both
    assert KafkaSettings.from_env().client_id == "from-file"


def test_file_then_environment_then_command_line(toml_file: Path) -> None:
    env = {"SAQSHY_KAFKA_CLIENT_ID": "from-env", "SAQSHY_KAFKA_TOPIC_PREFIX": "env."}
    s = KafkaSettings.from_env(env, config=toml_file, topic_prefix="cli.")
    assert s.bootstrap_servers == "file1:9092,file2:9092"  # the file only
    assert s.client_id == "from-env"  # the environment over the file
    assert s.topic_prefix == "cli."  # the command line over both
    # SAQSHY_CONFIG names the file when no explicit one is given
    assert KafkaSettings.from_env({CONFIG_ENV: str(toml_file)}).client_id == "from-file"
    w = WorkerSettings.from_env({"SAQSHY_WORKER_GROUP": "env-group"}, config=toml_file)
    assert (w.group, w.commit_interval) == ("env-group", 0.1)
    d = DetectorKafkaSettings.from_env({}, config=toml_file)
    assert (d.linger_ms, d.dead_letters, d.bootstrap_servers) == (
        7,
        Path("/var/lib/saqshy/dlq.jsonl"),
        "127.0.0.1:9092",
    )
    a = ArchiveSettings.from_env({}, config=toml_file)
    assert a.database == "city" and a.url == f"http://reader:{SECRET}@ch:8123"


def test_yaml_settings_file(tmp_path: Path) -> None:
    path = tmp_path / "saqshy.yaml"
    path.write_text(YAML)
    assert KafkaSettings.from_env({}, config=path).producer_config()["linger.ms"] == 50
    assert WorkerSettings.from_env({}, config=path).group == "yaml-group"


def test_the_command_line_config_file_reaches_every_command(toml_file: Path, tmp_path: Path) -> None:
    """`saqshy --config FILE` is the file of every settings class the command builds; SAQSHY_CONFIG too."""
    seen: list[KafkaSettings] = []
    import saqshy.commands.kafka_cmd as kafka_cmd

    original = kafka_cmd._settings

    def spy(bootstrap: str | None) -> KafkaSettings:
        seen.append(original(bootstrap))
        raise SystemExit(0)

    kafka_cmd._settings = spy  # type: ignore[assignment]
    try:
        r = CliRunner().invoke(
            main, ["--config", str(toml_file), "topics", "list"], env={"SAQSHY_KAFKA_CLIENT_ID": "e"}
        )
        assert r.exit_code == 0, r.output
        r = CliRunner().invoke(main, ["topics", "list", "--bootstrap", "cli:9092"], env={CONFIG_ENV: str(toml_file)})
        assert r.exit_code == 0, r.output
    finally:
        kafka_cmd._settings = original  # type: ignore[assignment]
    assert [(s.bootstrap_servers, s.client_id) for s in seen] == [
        ("file1:9092,file2:9092", "e"),
        ("cli:9092", "from-file"),
    ]
    assert KafkaSettings.from_env({}).client_id == "saqshy", "the command's --config ends with the command"


# --- the librdkafka extra-property convention ---------------------------------------------------------------
def test_extra_properties_from_environment_and_file(toml_file: Path) -> None:
    env = {"SAQSHY_KAFKA_X_LINGER_MS": "20", "SAQSHY_KAFKA_X_SOCKET_KEEPALIVE_ENABLE": "true"}
    s = KafkaSettings.from_env(env, config=toml_file)
    assert dict(s.extra) == {"linger.ms": "20", "queue.buffering.max.kbytes": 2048, "socket.keepalive.enable": "true"}
    for conf in (s.producer_config(), s.consumer_config("g"), s.admin_config()):
        assert conf["linger.ms"] == "20" and conf["socket.keepalive.enable"] == "true"
    d = DetectorKafkaSettings.from_env({"SAQSHY_DETECTOR_KAFKA_X_LINGER_MS": "3", "SAQSHY_KAFKA_X_ACKS": "1"})
    assert dict(d.extra) == {"linger.ms": "3"}  # each model reads its own prefix only
    assert d.producer_config()["linger.ms"] == "3"  # the operator's property wins over linger_ms
    assert DetectorKafkaSettings().producer_config()["linger.ms"] == 20


def test_both_kafka_models_make_the_same_security_config(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    values = {
        **SECURE,
        "BOOTSTRAP_SERVERS": "k1:9093",
        "SSL_CAFILE": str(ca),
        "X_SSL_ENDPOINT_IDENTIFICATION_ALGORITHM": "none",
    }
    engine = KafkaSettings.from_env({f"SAQSHY_KAFKA_{k}": v for k, v in values.items()})
    detector = DetectorKafkaSettings.from_env({f"SAQSHY_DETECTOR_KAFKA_{k}": v for k, v in values.items()})
    common = engine.common_config()
    assert common["sasl.password"] == SECRET and common["ssl.ca.location"] == str(ca)
    assert {k: v for k, v in detector.common_config().items() if k != "client.id"} == {
        k: v for k, v in common.items() if k != "client.id"
    }
    assert detector.producer_config()["sasl.password"] == SECRET
    assert isinstance(detector, KafkaClientSettings) and isinstance(engine, KafkaClientSettings)


# --- secrets -------------------------------------------------------------------------------------------------
def test_secrets_never_show(toml_file: Path, caplog: pytest.LogCaptureFixture) -> None:
    env = {f"SAQSHY_KAFKA_{k}": v for k, v in SECURE.items()} | {"SAQSHY_KAFKA_X_SSL_KEY_PASSWORD": SECRET}
    kafka = KafkaSettings.from_env(env)
    archive = ArchiveSettings.from_env({}, config=toml_file)
    privacy = PrivacySettings.from_env({"SAQSHY_PSEUDONYM_SECRET": SECRET})
    assert privacy.secret == SECRET.encode()
    with caplog.at_level(logging.INFO):
        for s in (kafka, archive, privacy):
            logging.getLogger("saqshy.test").info("settings %s %r", s, s)
    shown = [repr(kafka), str(kafka), kafka.model_dump_json(), str(kafka.model_dump()), caplog.text]
    shown += [repr(archive), str(archive), archive.model_dump_json(), archive.shown]
    assert all(SECRET not in text for text in shown), [t for t in shown if SECRET in t]
    assert archive.shown == "http://reader:***@ch:8123"
    assert kafka.producer_config()["ssl.key.password"] == SECRET  # only the client sees it


def test_errors_never_show_a_secret(tmp_path: Path) -> None:
    bad = {"SAQSHY_KAFKA_SECURITY_PROTOCOL": "SASL_SSL", "SAQSHY_KAFKA_SASL_PASSWORD": SECRET}
    with pytest.raises(SettingsError) as err:
        KafkaSettings.from_env(bad)
    assert "SAQSHY_KAFKA_SASL_MECHANISM" in str(err.value) and SECRET not in str(err.value)
    assert err.value.__cause__ is None and err.value.__suppress_context__
    with pytest.raises(SettingsError) as err:
        ArchiveSettings.from_env({"SAQSHY_ARCHIVE": f"ftp://u:{SECRET}@h"})
    assert "SAQSHY_ARCHIVE" in str(err.value) and SECRET not in str(err.value)
    with pytest.raises(SettingsError) as err:  # a secret of the wrong type in a file
        path = tmp_path / "s.toml"
        path.write_text(f'[kafka]\nsasl_password = 12345\nsasl_username = "{SECRET}x"\n')
        KafkaSettings.from_env({}, config=path)
    assert "12345" not in str(err.value)
    path = tmp_path / "broken.yaml"
    path.write_text(f"kafka:\n  sasl_password: {SECRET}\n   bad: [\n")
    with pytest.raises(SettingsError) as err:
        read_settings_file(path)
    assert "invalid YAML at line" in str(err.value) and SECRET not in str(err.value)


def test_the_cli_error_output_shows_no_secret(tmp_path: Path) -> None:
    env = {"SAQSHY_KAFKA_SECURITY_PROTOCOL": "SASL_SSL", "SAQSHY_KAFKA_SASL_PASSWORD": SECRET}
    r = CliRunner().invoke(main, ["topics", "list"], env=env)
    assert r.exit_code == 2 and "Error: Kafka settings: SASL_SSL needs sasl_mechanism" in r.output, r.output
    assert SECRET not in r.output and (r.exception is None or isinstance(r.exception, SystemExit))
    r = CliRunner().invoke(main, ["db", "status"], env={"SAQSHY_ARCHIVE": f"ftp://u:{SECRET}@h"})
    assert r.exit_code == 2 and "SAQSHY_ARCHIVE" in r.output and SECRET not in r.output, r.output
    r = CliRunner().invoke(main, ["db", "status", "--archive", f"ftp://u:{SECRET}@h"])
    assert r.exit_code == 2 and "'--archive'" in r.output and SECRET not in r.output, r.output


# --- validation ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "values,expected",
    [
        ({"security_protocol": "SASL_SSL"}, "SASL_SSL needs sasl_mechanism and sasl_username"),
        (
            {"security_protocol": "SASL_SSL", "sasl_mechanism": "PLAIN", "sasl_username": "u"},
            "needs sasl_password (SAQSHY_KAFKA_SASL_PASSWORD)",
        ),
        ({"sasl_mechanism": "PLAIN"}, "sasl_mechanism is set but security_protocol is PLAINTEXT"),
        ({"security_protocol": "TLS"}, "security_protocol (SAQSHY_KAFKA_SECURITY_PROTOCOL, [kafka] security_protocol)"),
        ({"sasl_mechanism": "GSSAPI", "security_protocol": "SASL_SSL"}, "Input should be 'PLAIN', 'SCRAM-SHA-256'"),
        ({"bootstrap_servers": "kafka"}, "'kafka' is not HOST:PORT"),
        ({"bootstrap_servers": "k:9092,,k2:9092"}, "an empty server"),
        ({"bootstrap_servers": "k:99999"}, "port '99999' is not a number from 1 to 65535"),
        ({"ssl_cafile": "/no/such/ca.pem"}, "ssl_cafile (SAQSHY_KAFKA_SSL_CAFILE, [kafka] ssl_cafile): no such file"),
        ({"bootstrap": "k:1"}, "unknown setting bootstrap"),
    ],
)
def test_validation_errors_are_clear(values: dict[str, str], expected: str) -> None:
    with pytest.raises(KafkaSettingsError, match=None) as err:
        KafkaSettings(**values)  # type: ignore[arg-type]
    assert expected in str(err.value) and str(err.value).startswith("Kafka settings: ")


def test_other_services_validate_too() -> None:
    with pytest.raises(SettingsError, match=r"commit_interval .*SAQSHY_WORKER_COMMIT_INTERVAL.*greater than 0"):
        WorkerSettings.from_env({"SAQSHY_WORKER_COMMIT_INTERVAL": "0"})
    with pytest.raises(SettingsError, match=r"metrics_port .*SAQSHY_WORKER_METRICS_PORT.* got 'http'"):
        WorkerSettings.from_env({"SAQSHY_WORKER_METRICS_PORT": "http"})
    with pytest.raises(SettingsError, match=r"max_buffered .* must hold at least one batch"):
        ArchiveSettings(batch=10, max_buffered=5)
    with pytest.raises(SettingsError, match="'jm' is not HOST:PORT"):
        FlinkSettings(jobmanager="jm")
    with pytest.raises(SettingsError, match=r"linger_ms .*SAQSHY_DETECTOR_KAFKA_LINGER_MS"):
        DetectorKafkaSettings.from_env({"SAQSHY_DETECTOR_KAFKA_LINGER_MS": "soon"})
    with pytest.raises(PrivacyError, match="at least 16 bytes"):
        PrivacySettings.from_env({"SAQSHY_PSEUDONYM_SECRET": "short"})


def test_settings_are_frozen() -> None:
    s = KafkaSettings()
    with pytest.raises(Exception, match="frozen"):
        s.bootstrap_servers = "other:9092"  # type: ignore[misc]


def test_bad_settings_files_are_refused_by_name(tmp_path: Path) -> None:
    cases = {
        "typo.toml": ("[kafak]\nx = 1\n", "unknown section(s) kafak"),
        "key.toml": ('[kafka]\nbootstrap = "k:1"\n', "[kafka] has unknown setting(s) bootstrap"),
        "syntax.toml": ("[kafka\n", "invalid TOML"),
        "value.toml": ("kafka = 3\n", "[kafka] must be a section"),
        "list.yaml": ("- a\n- b\n", "expected sections"),
        "conf.ini": ("[kafka]\n", "expected a .toml, .yaml or .yml file"),
    }
    for name, (text, expected) in cases.items():
        path = tmp_path / name
        path.write_text(text)
        with pytest.raises(SettingsError) as err:
            KafkaSettings.from_env({}, config=path)
        assert expected in str(err.value) and str(path) in str(err.value), (name, str(err.value))
    with pytest.raises(SettingsError, match="cannot read it"):
        KafkaSettings.from_env({CONFIG_ENV: str(tmp_path / "absent.toml")})


def test_every_setting_is_documented() -> None:
    doc = (ROOT / "docs" / "configuration.md").read_text()
    missing = [env for model in models() for _, env, _, _ in model.describe() if f"`{env}`" not in doc]
    assert not missing, f"docs/configuration.md does not list {missing}"
    keys = [key for model in models() for key, _, _, _ in model.describe()]
    assert all(f"`{key.split('] ')[1]}`" in doc for key in keys)


def test_the_flink_job_gets_the_same_credentials() -> None:
    from jobs.flink.kafka import client_properties

    s = KafkaSettings.from_env({f"SAQSHY_KAFKA_{k}": v for k, v in SECURE.items()})
    props = client_properties(s)
    assert props["security.protocol"] == "SASL_SSL" and props["sasl.mechanism"] == "SCRAM-SHA-256"
    assert f'username="saqshy" password="{SECRET}"' in props["sasl.jaas.config"]
