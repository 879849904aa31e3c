"""docker-compose.yml and the Dockerfile, checked as far as a machine without a container engine can check them.

- the compose file validates against the official Compose Specification schema (schema/compose-spec.json of the
  Go module github.com/compose-spec/compose-go/v2, fetched by infra/compose/fetch-schema.sh), and compose-go's
  loader (what `docker compose` runs: interpolation, normalization, consistency) loads it with every profile;
- its structure: restart policies, health checks, dependency conditions, volumes, users, build targets, Kafka's
  listeners and log dir, ClickHouse's credentials reaching the archiver;
- the Dockerfile: pinned bases, one target per service with only its extras, non-root, lean layers;
- each image's commands run with only the packages that image installs (everything else made unimportable).

None of this starts a container: that needs a container engine, which this machine does not have.
"""

from __future__ import annotations

import http.server
import importlib.util
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib import metadata
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import urlparse

import jsonschema
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
GO = shutil.which("go")
GO_RUN = [GO or "go", "-C", str(ROOT / "infra" / "compose" / "check"), "run", "."]
UV = shutil.which("uv", path=str(Path(sys.executable).parent)) or shutil.which("uv")

EXISTING_SERVICES = {
    "kafka",
    "clickhouse",
    "rules-check",
    "replay-demo",
    "topics",
    "worker",
    "archiver",
    "jobmanager",
    "taskmanager",
    "flink-job",
}
LONG_RUNNING = {"unless-stopped", "always"}
ONE_SHOT = {"no", "on-failure"}
# what each image carries (pyproject extras); the Dockerfile's deps-<target> stage exports exactly these
TARGET_EXTRAS: dict[str, set[str]] = {
    "base": set(),
    "worker": {"kafka"},
    "archiver": {"kafka", "archive"},
    "detector": {"video", "kafka"},
    "flink": {"flink", "kafka"},
}
# third-party images and the user their process runs as (they set it, not us)
IMAGE_USERS = {
    "apache/kafka": "appuser (USER appuser in the image's Dockerfile)",
    "clickhouse/clickhouse-server": "clickhouse, uid 101 (the entrypoint drops root with `clickhouse su`)",
    "prom/prometheus": "nobody (USER nobody in the image's Dockerfile)",
    "grafana/grafana": "grafana, uid 472 (USER $GF_UID in the image's Dockerfile)",
}
# what a health check may call: the helper every saqshy image installs, or tools the third-party image has
HEALTH_TOOLS = {
    "apache/kafka": {"/opt/kafka/bin/kafka-broker-api-versions.sh"},
    "clickhouse/clickhouse-server": {"clickhouse-client"},
    "prom/prometheus": {"wget"},  # busybox's, the image's base
    "grafana/grafana": {"curl"},  # installed by the image's Dockerfile
}
GO_DURATION = re.compile(r"^(?:\d+(?:\.\d+)?(?:ns|us|µs|ms|s|m|h))+$")


# --- reading the files -------------------------------------------------------------------------------------------
_VAR = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?+])([^{}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)")


def interpolate(text: str, env: Mapping[str, str]) -> str:
    """Compose's interpolation ($$, ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?err}, ${VAR:+alt})."""

    def sub(m: re.Match[str]) -> str:
        if m.group(0) == "$$":
            return "$"
        name, op, arg = m.group(1) or m.group(4), m.group(2), m.group(3) or ""
        value = env.get(name)
        match op:
            case None:
                return value or ""
            case ":-":
                return value or arg
            case "-":
                return arg if value is None else value
            case ":?" | "?":
                if (not value) if op == ":?" else value is None:
                    raise ValueError(f"${{{name}}} is required: {arg}")
                return value or ""
            case ":+":
                return arg if value else ""
            case _:  # "+"
                return "" if value is None else arg

    return _VAR.sub(sub, text)


def _interpolated(node: Any, env: Mapping[str, str]) -> Any:
    if isinstance(node, str):
        return interpolate(node, env)
    if isinstance(node, list):
        return [_interpolated(x, env) for x in node]
    if isinstance(node, dict):
        return {k: _interpolated(v, env) for k, v in node.items()}
    return node


@cache
def raw_compose() -> dict[str, Any]:
    doc = yaml.safe_load(COMPOSE.read_text())
    assert isinstance(doc, dict)
    return doc


@cache
def compose() -> dict[str, Any]:
    """The compose file as `docker compose` sees it with no settings: every variable at its default."""
    doc = _interpolated(raw_compose(), {})
    assert isinstance(doc, dict)
    return doc


def services() -> dict[str, dict[str, Any]]:
    return compose()["services"]  # type: ignore[no-any-return]


def restart(svc: Mapping[str, Any]) -> str:
    return str(svc.get("restart", "no"))


def command_text(svc: Mapping[str, Any]) -> str:
    parts: list[str] = []
    for key in ("entrypoint", "command"):
        value = svc.get(key)
        parts.extend([value] if isinstance(value, str) else list(value or []))
    return " ".join(parts)


def short_volume(spec: str) -> tuple[str, str]:
    """(source, target) of a short volume syntax SOURCE:TARGET[:MODE]."""
    parts = spec.split(":")
    return (parts[0], parts[1]) if len(parts) > 1 else ("", parts[0])


def mounts(svc: Mapping[str, Any]) -> list[tuple[str, str]]:
    out = []
    for vol in svc.get("volumes", []):
        out.append(short_volume(vol) if isinstance(vol, str) else (vol.get("source", ""), vol["target"]))
    return out


@dataclass
class Stage:
    name: str
    base: str
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def args(self, keyword: str) -> list[str]:
        return [arg for kw, arg in self.instructions if kw == keyword]


@cache
def stages() -> dict[str, Stage]:
    """The Dockerfile's stages by name (continuation lines joined, comments dropped)."""
    logical: list[str] = []
    pending = ""
    for line in DOCKERFILE.read_text().splitlines():
        stripped = line.strip()
        if stripped.startswith("#"):  # comments (and the syntax directive), also inside a continuation
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        pending += stripped
        if pending.strip():
            logical.append(pending.strip())
        pending = ""
    found: dict[str, Stage] = {}
    current: Stage | None = None
    for text in logical:
        keyword, _, arg = text.partition(" ")
        if keyword.upper() == "FROM":
            m = re.fullmatch(r"(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?", arg.strip(), re.IGNORECASE)
            assert m, f"cannot read FROM {arg}"
            current = Stage(m.group(2) or f"#{len(found)}", m.group(1))
            found[current.name] = current
        else:
            assert current is not None, f"{text!r} before FROM"
            current.instructions.append((keyword.upper(), arg.strip()))
    return found


def chain(target: str) -> list[Stage]:
    """The stage and the stages it is built FROM, nearest first."""
    out: list[Stage] = []
    name: str | None = target
    while name in stages():
        out.append(stages()[name])
        name = stages()[name].base
    return out


def effective_user(target: str) -> str:
    for stage in chain(target):
        users = stage.args("USER")
        if users:
            return users[-1].split(":")[0]
    return "root"  # the python image's default


def mount_sources(stage: Stage) -> set[str]:
    return {m for run in stage.args("RUN") for m in re.findall(r"--mount=\S*from=([\w.-]+)", run)}


def build_targets() -> dict[str, str]:
    """service -> Dockerfile target, for every service built from this repository."""
    out = {}
    for name, svc in services().items():
        if "build" in svc:
            build = svc["build"]
            assert isinstance(build, dict), f"{name}: build must name its context and target"
            out[name] = build["target"]
    return out


def load_helper() -> ModuleType:
    spec = importlib.util.spec_from_file_location("saqshy_compose", ROOT / "infra" / "compose" / "saqshy_compose.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# --- the official schema and compose-go's loader -----------------------------------------------------------------
@pytest.fixture(scope="module")
def compose_schema() -> dict[str, Any]:
    if GO is None:
        pytest.skip("go is not installed: the compose-spec schema comes from the Go module compose-go")
    proc = subprocess.run(
        [str(ROOT / "infra" / "compose" / "fetch-schema.sh")], capture_output=True, text=True, timeout=240
    )
    assert proc.returncode == 0, proc.stderr
    schema = json.loads(Path(proc.stdout.strip().splitlines()[-1]).read_text())
    assert schema["title"] == "Compose Specification"
    return schema  # type: ignore[no-any-return]


def test_compose_file_validates_against_the_official_schema(compose_schema: dict[str, Any]) -> None:
    validator = jsonschema.Draft202012Validator(compose_schema, format_checker=jsonschema.FormatChecker())
    for doc in (raw_compose(), compose()):  # as written, and with every variable at its default
        errors = sorted(validator.iter_errors(doc), key=lambda e: list(e.absolute_path))
        assert not errors, "\n".join(f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in errors)


def test_the_schema_catches_a_broken_file(compose_schema: dict[str, Any]) -> None:
    broken = json.loads(json.dumps(raw_compose()))
    broken["services"]["worker"]["restart"] = ["unless-stopped"]
    broken["services"]["worker"]["healtcheck"] = {}
    validator = jsonschema.Draft202012Validator(compose_schema)
    assert len(list(validator.iter_errors(broken))) >= 2


def _compose_go(tmp_path: Path, *args: str, env_lines: str = "") -> subprocess.CompletedProcess[str]:
    env_file = tmp_path / "compose.env"
    env_file.write_text(env_lines)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KAFKA_", "CLICKHOUSE_", "SAQSHY_", "FLINK_"))}
    env["GOFLAGS"] = "-mod=mod"
    return subprocess.run(
        [*GO_RUN, "-f", str(COMPOSE), "-env-file", str(env_file), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=280,
    )


@pytest.mark.skipif(GO is None, reason="go is not installed: compose-go's loader is a Go module")
def test_compose_go_loads_it_with_every_profile_and_with_none(tmp_path: Path) -> None:
    everything = _compose_go(tmp_path, "-profile", "*")
    assert everything.returncode == 0, everything.stderr
    assert set(json.loads(everything.stdout)["services"]) == set(services())
    default = _compose_go(tmp_path)
    assert default.returncode == 0, default.stderr
    assert set(json.loads(default.stdout)["services"]) == {n for n, s in services().items() if not s.get("profiles")}


@pytest.mark.skipif(GO is None, reason="go is not installed: compose-go's loader is a Go module")
def test_compose_go_settings_reach_every_service(tmp_path: Path) -> None:
    proc = _compose_go(
        tmp_path,
        "-profile",
        "*",
        env_lines="CLICKHOUSE_USER=archivist\nCLICKHOUSE_PASSWORD=0f3c9a\nKAFKA_EXTERNAL_PORT=39092\n"
        "SAQSHY_PARTITIONING=spatial\nSAQSHY_PSEUDONYM_SECRET=hex:00112233445566778899aabbccddeeff\n",
    )
    assert proc.returncode == 0, proc.stderr
    project = json.loads(proc.stdout)["services"]
    clickhouse = project["clickhouse"]["environment"]
    dsn = urlparse(project["archiver"]["environment"]["SAQSHY_ARCHIVE"])
    assert (dsn.username, dsn.password) == (clickhouse["CLICKHOUSE_USER"], clickhouse["CLICKHOUSE_PASSWORD"])
    assert (dsn.username, dsn.password, dsn.hostname, dsn.port) == ("archivist", "0f3c9a", "clickhouse", 8123)
    kafka = project["kafka"]
    assert "EXTERNAL://localhost:39092" in kafka["environment"]["KAFKA_ADVERTISED_LISTENERS"]
    assert [(p["published"], p["target"]) for p in kafka["ports"]] == [("39092", 29092)]
    assert "--partitioning spatial" in project["worker"]["command"][0]
    secrets = {project[s]["environment"]["SAQSHY_PSEUDONYM_SECRET"] for s in ("worker", "archiver", "taskmanager")}
    assert secrets == {"hex:00112233445566778899aabbccddeeff"}


@pytest.mark.skipif(GO is None, reason="go is not installed: compose-go's loader is a Go module")
def test_compose_go_refuses_an_inconsistent_file(tmp_path: Path) -> None:
    broken = raw_compose() | {"volumes": {k: v for k, v in raw_compose()["volumes"].items() if k != "kafka-data"}}
    (tmp_path / "docker-compose.yml").write_text(yaml.safe_dump(broken))
    env = dict(os.environ, GOFLAGS="-mod=mod")
    proc = subprocess.run(
        [*GO_RUN, "-f", str(tmp_path / "docker-compose.yml")],
        capture_output=True,
        text=True,
        env=env,
        timeout=280,
    )
    assert proc.returncode == 1
    assert "kafka-data" in proc.stderr


# --- structure -------------------------------------------------------------------------------------------------
def test_the_existing_services_are_kept() -> None:
    assert set(services()) >= EXISTING_SERVICES


def test_every_service_has_a_restart_policy_that_fits_it() -> None:
    for name, svc in services().items():
        assert "restart" in svc, f"{name}: no restart policy"
        assert restart(svc) in LONG_RUNNING | ONE_SHOT, f"{name}: restart {restart(svc)!r}"
    for name in ("kafka", "clickhouse", "worker", "archiver", "jobmanager", "taskmanager"):
        assert restart(services()[name]) == "unless-stopped", name
    for name in ("rules-check", "replay-demo", "topics", "flink-job"):
        assert restart(services()[name]) in ONE_SHOT, name


def test_every_long_running_service_has_a_health_check() -> None:
    for name, svc in services().items():
        if restart(svc) in LONG_RUNNING:
            check = svc.get("healthcheck", {})
            assert check.get("test") and not check.get("disable"), f"{name}: no health check"
            for key in ("interval", "timeout", "start_period"):
                assert key in check, f"{name}: healthcheck.{key}"


def test_every_dependency_waits_for_health_or_completion() -> None:
    for name, svc in services().items():
        deps = svc.get("depends_on", {})
        assert isinstance(deps, dict), f"{name}: depends_on must say what it waits for"
        for dep, spec in deps.items():
            assert dep in services(), f"{name} depends on unknown {dep}"
            condition = spec.get("condition")
            if condition == "service_healthy":
                assert "healthcheck" in services()[dep], f"{name} waits for {dep}'s health, which it has no check for"
            elif condition == "service_completed_successfully":
                assert restart(services()[dep]) in ONE_SHOT, f"{name} waits for {dep} to exit, but it runs forever"
            else:
                pytest.fail(f"{name} -> {dep}: condition {condition!r} (service_started does not wait for readiness)")
            if not svc.get("profiles"):
                assert not services()[dep].get("profiles"), f"{name} (no profile) depends on {dep}, behind a profile"


def test_named_volumes_are_declared_and_mounted() -> None:
    declared = set(compose()["volumes"])
    used = set()
    for name, svc in services().items():
        for source, target in mounts(svc):
            assert target.startswith("/"), f"{name}: {target}"
            if source and not source.startswith((".", "/", "~")):
                assert source in declared, f"{name}: undeclared volume {source}"
                used.add(source)
    assert declared == used, f"declared but never mounted: {sorted(declared - used)}"
    data = {s: {src for src, _ in mounts(services()[s])} for s in ("kafka", "clickhouse", "jobmanager", "taskmanager")}
    assert "kafka-data" in data["kafka"]
    assert "clickhouse-data" in data["clickhouse"]
    assert "flink-data" in data["jobmanager"] & data["taskmanager"]


def test_kafka_keeps_its_log_on_the_volume_and_has_a_host_listener() -> None:
    kafka = services()["kafka"]
    env = kafka["environment"]
    log_dirs = env["KAFKA_LOG_DIRS"].split(",")
    volume_targets = [t for s, t in mounts(kafka) if s in compose()["volumes"]]
    for log_dir in log_dirs:
        assert any(log_dir == t or log_dir.startswith(t.rstrip("/") + "/") for t in volume_targets), log_dir
    protocols = dict(p.split(":") for p in env["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"].split(","))
    listeners = {u.split("://")[0]: u for u in env["KAFKA_LISTENERS"].split(",")}
    advertised = {u.split("://")[0]: urlparse(u) for u in env["KAFKA_ADVERTISED_LISTENERS"].split(",")}
    assert set(listeners) <= set(protocols)
    assert set(advertised) <= set(listeners)
    assert env["KAFKA_CONTROLLER_LISTENER_NAMES"] in listeners
    assert env["KAFKA_INTER_BROKER_LISTENER_NAME"] in advertised
    assert advertised[env["KAFKA_INTER_BROKER_LISTENER_NAME"]].hostname == "kafka"
    host = [a for a in advertised.values() if a.hostname in {"localhost", "127.0.0.1"}]
    assert len(host) == 1, "one listener advertised for clients on the host"
    published = {}
    for port in kafka["ports"]:
        *_, host_port, container_port = str(port).split(":")
        published[int(container_port)] = int(host_port)
    listener_port = int(listeners[next(k for k, a in advertised.items() if a is host[0])].rsplit(":", 1)[1])
    assert published.get(listener_port) == host[0].port, "the host listener's port is published as advertised"
    for name, svc in services().items():
        if name != "kafka":
            assert "9092" not in json.dumps(svc.get("ports", [])), f"{name} publishes Kafka's internal port"


def test_clickhouse_has_a_user_and_the_archiver_connects_as_it() -> None:
    env = services()["clickhouse"]["environment"]
    assert env["CLICKHOUSE_USER"] and env["CLICKHOUSE_USER"] != "default"
    assert env["CLICKHOUSE_PASSWORD"]
    assert raw_compose()["services"]["clickhouse"]["environment"]["CLICKHOUSE_PASSWORD"].startswith(
        "${CLICKHOUSE_PASSWORD"
    ), "the password comes from the environment (.env), its default only for development"
    dsn = urlparse(services()["archiver"]["environment"]["SAQSHY_ARCHIVE"])
    assert (dsn.scheme, dsn.hostname, dsn.port) == ("http", "clickhouse", 8123)
    assert (dsn.username, dsn.password) == (env["CLICKHOUSE_USER"], env["CLICKHOUSE_PASSWORD"])
    assert services()["archiver"]["depends_on"]["clickhouse"]["condition"] == "service_healthy"


def test_metrics_ports_are_exposed_and_checked() -> None:
    for name, svc in services().items():
        m = re.search(r"--metrics-port[ =](\d+)", command_text(svc))
        if m:
            port = m.group(1)
            assert port in {str(p).split(":")[-1] for p in svc.get("expose", []) + svc.get("ports", [])}, name
            assert f":{port}/metrics" in " ".join(svc["healthcheck"]["test"]), name


def test_durations_are_go_durations() -> None:
    for name, svc in services().items():
        values = [svc.get("stop_grace_period")] + [svc.get("healthcheck", {}).get(k) for k in ("interval", "timeout")]
        values.append(svc.get("healthcheck", {}).get("start_period"))
        for value in filter(None, values):
            assert GO_DURATION.match(str(value)), f"{name}: {value!r}"


def test_every_setting_is_documented() -> None:
    variables = set(re.findall(r"\$\{([A-Z][A-Z0-9_]*)", COMPOSE.read_text()))
    assert {"CLICKHOUSE_PASSWORD", "SAQSHY_PSEUDONYM_SECRET", "KAFKA_EXTERNAL_PORT"} <= variables
    docs = (ROOT / "docs" / "deploy.md").read_text()
    assert not [v for v in sorted(variables) if f"`{v}`" not in docs], "settings missing from docs/deploy.md"
    assert "no container engine" in docs
    assert "docs/deploy.md" in (ROOT / "README.md").read_text()


# --- images ------------------------------------------------------------------------------------------------------
def test_every_built_service_names_a_target_of_the_dockerfile() -> None:
    targets = build_targets()
    assert set(targets) == {n for n, s in services().items() if "image" not in s}
    for name, target in targets.items():
        build = services()[name]["build"]
        assert build.get("context") == ".", name
        assert (ROOT / build.get("dockerfile", "Dockerfile")).exists()
        assert target in stages(), f"{name}: no stage {target!r}"
    assert set(targets.values()) <= set(TARGET_EXTRAS)


def test_third_party_images_are_pinned() -> None:
    for name, svc in services().items():
        if "image" in svc:
            repo, _, tag = svc["image"].partition(":")
            assert tag and tag != "latest", f"{name}: {svc['image']} is not pinned"
            # Prometheus tags its releases v3.5.0
            assert re.fullmatch(r"v?\d+\.\d+\.\d+(\.\d+)?", tag), f"{name}: {svc['image']}: pin a full version"
            assert repo in IMAGE_USERS, f"{name}: {repo} runs as which user?"


def test_no_service_runs_as_root() -> None:
    for name, target in build_targets().items():
        user = services()[name].get("user") or effective_user(target)
        assert user not in {"root", "0"}, f"{name}: target {target} runs as {user}"
    useradd = " ".join(r for s in stages().values() for r in s.args("RUN") if "useradd" in r)
    assert re.search(r"--uid 10001\b", useradd) and "saqshy" in useradd
    for name, svc in services().items():
        if "image" in svc:
            assert svc.get("user") not in {"root", "0"}, name
            assert svc["image"].partition(":")[0] in IMAGE_USERS, name


def test_health_checks_call_tools_the_image_has() -> None:
    helper_installed = {
        s.name
        for s in stages().values()
        if any("saqshy_compose.py /usr/local/bin/saqshy-compose" in c for c in s.args("COPY"))
    }
    assert helper_installed
    for name, svc in services().items():
        test = svc.get("healthcheck", {}).get("test")
        if not test:
            continue
        kind, *cmd = test
        tool = shlex.split(cmd[0])[0] if kind == "CMD-SHELL" else cmd[0]
        if "image" in svc:
            assert tool in HEALTH_TOOLS[svc["image"].partition(":")[0]], f"{name}: {tool}"
        else:
            assert tool == "saqshy-compose", f"{name}: {tool}"
            assert helper_installed & {s.name for s in chain(build_targets()[name])}, name
    for name, svc in services().items():
        if "saqshy-compose kafka-group" in " ".join(svc.get("healthcheck", {}).get("test", [])):
            assert "kafka" in TARGET_EXTRAS[build_targets()[name]], f"{name}: kafka-group needs confluent-kafka"


def test_dockerfile_bases_are_pinned_bookworm() -> None:
    for stage in stages().values():
        if stage.base in stages() or stage.base == "scratch":
            continue
        repo, _, tag = stage.base.partition(":")
        assert tag and tag != "latest" and "@" not in repo, stage.base
        assert "bookworm" in tag, f"{stage.base}: pin the Debian release (python:3.11-slim now means trixie)"


def test_each_target_installs_only_its_extras_from_the_lock() -> None:
    extras_of_pyproject = set(_pyproject()["project"]["optional-dependencies"])
    for target, extras in TARGET_EXTRAS.items():
        assert extras <= extras_of_pyproject
        sources = mount_sources(stages()[target])
        assert sources == {f"deps-{target}", "project"}, f"{target} installs from {sources}"
        export = " ".join(stages()[f"deps-{target}"].args("RUN"))
        assert "uv export --frozen" in export and "--no-emit-project" in export
        assert set(re.findall(r"--extra (\w+)", export)) == extras, target
        install = " ".join(stages()[target].args("RUN"))
        assert "--no-index" in install and "pip check" in install
        assert stages()[target].instructions[-1][0] == "USER", f"{target}: USER must be the stage's last word"


def test_images_are_lean() -> None:
    for stage in stages().values():
        for run in stage.args("RUN"):
            if re.search(r"\bpip (install|wheel)\b", run):
                assert "--no-cache-dir" in run, run
                assert not re.search(r"pip install[^&]*\s-e\s", run), "install the wheel, not editable"
            if "apt-get install" in run:
                assert "--no-install-recommends" in run and "rm -rf /var/lib/apt/lists/*" in run, run
    for target in TARGET_EXTRAS:
        for stage in chain(target):
            for run in stage.args("RUN"):
                assert not re.search(r"build-essential|\bgcc\b|\bg\+\+", run), (
                    f"{target} keeps build tools ({stage.name})"
                )
        assert not any(s.name.startswith(("deps-", "toolchain", "project")) for s in chain(target)), target
    assert "openjdk-17-jre-headless" in " ".join(stages()["flink"].args("RUN"))
    assert not any("openjdk" in r for t in TARGET_EXTRAS if t != "flink" for s in chain(t) for r in s.args("RUN"))


def test_flink_image_carries_the_connector_the_job_reads() -> None:
    pom = (ROOT / "infra" / "flink" / "pom.xml").read_text()
    artifact = re.search(r"<artifactId>(flink-sql-connector-kafka)</artifactId>\s*<version>([^<]+)</version>", pom)
    assert artifact, "infra/flink/pom.xml names the connector"
    version = re.sub(r"\$\{([^}]+)\}", lambda m: re.findall(rf"<{re.escape(m.group(1))}>([^<]+)<", pom)[0], artifact[2])
    jar = f"{artifact.group(1)}-{version}.jar"
    add = " ".join(stages()["flink-connector"].args("ADD"))
    assert f"/{version}/{jar} " in add and "--checksum=sha256:" in add
    env = " ".join(stages()["flink"].args("ENV"))
    lib = re.search(r"SAQSHY_FLINK_CONNECTOR_LIB=(\S+)", env)
    assert lib, "the flink target tells the job where the connector is"
    assert any(
        c.startswith("--from=flink-connector") and c.rstrip("/").endswith(lib.group(1))
        for c in stages()["flink"].args("COPY")
    )
    assert "SAQSHY_FLINK_CONNECTOR_LIB" in (ROOT / "jobs" / "flink" / "job.py").read_text()
    for name in ("jobmanager", "taskmanager"):
        entry = services()[name]["entrypoint"]
        assert entry[0] == "/app/infra/flink/flink.sh" and entry[1] == name
    assert any("infra/flink/flink.sh" in c for c in stages()["flink"].args("COPY"))


def test_dockerignore_keeps_the_context_small_and_the_sources_in() -> None:
    patterns = [p.strip() for p in (ROOT / ".dockerignore").read_text().splitlines() if p.strip() and p[0] != "#"]

    def regex(pattern: str) -> re.Pattern[str]:  # moby's patternmatcher: ** any directories, * within one
        out, i = "", 0
        while i < len(pattern):
            if pattern.startswith("**/", i):
                out, i = out + "(?:.*/)?", i + 3
            elif pattern.startswith("**", i):
                out, i = out + ".*", i + 2
            else:
                out, i = out + {"*": "[^/]*", "?": "[^/]"}.get(pattern[i], re.escape(pattern[i])), i + 1
        return re.compile(out)

    def ignored(path: str) -> bool:  # a path is out when it, or a folder above it, matches (the last match wins)
        parts = path.split("/")
        result = False
        for pattern in patterns:
            negate, rx = pattern.startswith("!"), regex(pattern.lstrip("!").strip("/"))
            if any(rx.fullmatch("/".join(parts[: i + 1])) for i in range(len(parts))):
                result = not negate
        return result

    for path in (".venv", ".venv/lib/python3.11/site-packages", ".git", "build/demo", "infra/kafka/target/lib", ".env"):
        assert ignored(path), f".dockerignore lets {path} into the build context"
    for path in ("tests", "docs", "rules/catalog/__pycache__/x.pyc"):
        assert ignored(path), path
    packages = _pyproject()["tool"]["setuptools"]["packages"]["find"]["include"]
    needed = [
        "pyproject.toml",
        "uv.lock",
        "README.md",
        "LICENSE",
        "infra/flink/flink.sh",
        "infra/compose/saqshy_compose.py",
    ]
    needed += [p.rstrip("*") + "/__init__.py" for p in packages]
    for path in needed:
        assert (ROOT / path).exists(), path
        assert not ignored(path), f".dockerignore keeps {path} out of the build"
    assert ". ." in stages()["project"].args("COPY"), "the wheel is built from the (filtered) context"


@cache
def _pyproject() -> dict[str, Any]:
    import tomllib

    return tomllib.loads((ROOT / "pyproject.toml").read_text())


# --- each image's commands with only that image's packages --------------------------------------------------------
FIRST_PARTY = {"schemas", "rules", "streams", "jobs", "detectors", "saqshy", "infra"}
IN_EVERY_IMAGE = {"pip", "setuptools", "wheel", "_distutils_hack", "pkg_resources"}


@cache
def _exported(extras: frozenset[str]) -> frozenset[str]:
    args = [UV or "uv", "export", "--frozen", "--no-dev", "--no-emit-project", "--no-hashes", "--no-annotate"]
    for extra in sorted(extras):
        args += ["--extra", extra]
    proc = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return frozenset(_norm(m.group(1)) for m in re.finditer(r"^([A-Za-z0-9_.-]+)==", proc.stdout, re.MULTILINE))


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _top_level(dist: metadata.Distribution) -> set[str]:
    text = dist.read_text("top_level.txt")
    if text:
        return {line.strip() for line in text.splitlines() if line.strip()}
    names = set()
    for f in dist.files or []:
        head = f.parts[0]
        if head.endswith((".dist-info", ".data")) or head in {"..", "__pycache__"}:
            continue
        names.add(head.split(".")[0] if head.endswith((".py", ".so", ".pyd")) else head)
    return names


def blocked_modules(target: str) -> set[str]:
    """Top-level modules of this environment that the target's image would not have."""
    allowed_dists = _exported(frozenset(TARGET_EXTRAS[target]))
    allowed: set[str] = set(FIRST_PARTY | IN_EVERY_IMAGE)
    others: set[str] = set()
    for dist in metadata.distributions():
        name = _norm(dist.metadata["Name"] or "")
        if name == "saqshy":
            continue
        (allowed if name in allowed_dists else others).update(_top_level(dist))
    return {m for m in others - allowed if m.isidentifier()}


BOOT = r"""
import importlib, json, sys
blocked = frozenset(json.loads(sys.argv[1]))
class NotInThisImage:
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in blocked:
            raise ModuleNotFoundError(f"No module named {name!r} (not in this image)", name=name)
        return None
sys.meta_path.insert(0, NotInThisImage())
mode, *rest = sys.argv[2:]
if mode == "import":
    for module in rest:
        importlib.import_module(module)
else:
    sys.argv = ["saqshy", *rest]
    from saqshy.cli import main
    main()
"""


def run_in_image(target: str, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(ROOT), PYTHONDONTWRITEBYTECODE="1")
    blocked = json.dumps(sorted(blocked_modules(target)))
    return subprocess.run(
        [sys.executable, "-c", BOOT, blocked, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=240
    )


# what each target's services run (docker-compose.yml), and the modules those commands load when they work
IMAGE_COMMANDS: dict[str, list[list[str]]] = {
    "worker": [
        ["cli", "worker", "--help"],
        ["cli", "topics", "apply", "--help"],
        ["import", "streams.kafka.worker", "streams.kafka.faust_worker", "streams.kafka.topics", "prometheus_client"],
    ],
    "archiver": [
        ["cli", "archive", "--help"],
        ["cli", "db", "migrate", "--help"],
        ["cli", "map", "--help"],
        [
            "import",
            "jobs.archive.consumer",
            "jobs.archive.writer",
            "jobs.archive.migrate",
            "clickhouse_connect",
            "chdb",
        ],
    ],
    "detector": [
        ["cli", "detect", "--help"],
        ["import", "detectors.pipeline", "detectors.publish", "detectors.model", "cv2", "onnxruntime"],
    ],
    "flink": [
        ["cli", "flink", "run", "--help"],
        ["import", "jobs.flink.job", "jobs.flink.operator", "streams.kafka.settings"],
    ],
}


@pytest.mark.skipif(UV is None, reason="uv is not installed: the images' packages are uv.lock's exports")
@pytest.mark.parametrize("target", sorted(IMAGE_COMMANDS))
def test_image_commands_need_only_the_image_extras(target: str, tmp_path: Path) -> None:
    for args in IMAGE_COMMANDS[target]:
        mode, *rest = args
        proc = run_in_image(target, tmp_path, "import" if mode == "import" else "cli", *rest)
        assert proc.returncode == 0, f"{target}: {' '.join(rest)}\n{proc.stderr[-3000:]}"


@pytest.mark.skipif(UV is None, reason="uv is not installed: the images' packages are uv.lock's exports")
def test_base_image_runs_the_demo_from_any_directory(tmp_path: Path) -> None:
    """rules-check and replay-demo, from a directory outside the checkout, with the core dependencies only."""
    catalog = str(ROOT / "rules" / "catalog")
    steps = [
        ["rules", "lint", catalog],
        [
            "simulate",
            "--city",
            "alatau",
            "--hours",
            "0.05",
            "--seed",
            "7",
            "--out",
            "events.jsonl.gz",
            "--truth",
            "truth.jsonl",
        ],
        ["replay", "--rules", catalog, "--input", "events.jsonl.gz", "--out", "incidents.jsonl", "--no-progress"],
        ["evaluate", "--truth", "truth.jsonl", "--incidents", "incidents.jsonl"],
    ]
    for step in steps:
        proc = run_in_image("base", tmp_path, "cli", *step)
        assert proc.returncode == 0, f"{' '.join(step)}\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}"
    assert (tmp_path / "incidents.jsonl").exists()


@pytest.mark.skipif(UV is None, reason="uv is not installed: the images' packages are uv.lock's exports")
def test_the_image_simulation_really_hides_other_extras(tmp_path: Path) -> None:
    assert {"pyflink", "cv2", "onnxruntime", "chdb", "clickhouse_connect"} <= blocked_modules("worker")
    assert {"confluent_kafka", "faust"} <= blocked_modules("base")
    assert "cv2" not in blocked_modules("archiver")  # the crime map's PNG
    proc = run_in_image("worker", tmp_path, "import", "pyflink")
    assert proc.returncode != 0 and "not in this image" in proc.stderr


@pytest.mark.skipif(UV is None, reason="uv is not installed")
def test_uv_exports_every_target(tmp_path: Path) -> None:
    sizes = {t: len(_exported(frozenset(e))) for t, e in TARGET_EXTRAS.items()}
    assert sizes["base"] < sizes["worker"] < sizes["flink"]
    assert "apache-flink" in _exported(frozenset(TARGET_EXTRAS["flink"]))
    assert "apache-flink" not in _exported(frozenset(TARGET_EXTRAS["archiver"]))
    assert "onnxruntime" in _exported(frozenset(TARGET_EXTRAS["detector"]))


# --- the helper the health checks call ---------------------------------------------------------------------------
def test_helper_reads_flink_and_kafka_answers() -> None:
    helper = load_helper()
    overview = {
        "taskmanagers": [
            {"id": "172.18.0.6:41835-5a9f1b", "path": "pekko.tcp://flink@172.18.0.6:6122/user/rpc/taskmanager_0"},
            {"id": "saqshy-taskmanager-2:6122-77aa10", "path": ""},
        ]
    }
    assert helper.taskmanager_hosts(overview) == {"172.18.0.6", "saqshy-taskmanager-2"}
    assert helper.taskmanager_hosts({}) == set()
    jobs = {"jobs": [{"name": "saqshy-correlate", "state": "CANCELED"}, {"name": "other", "state": "RUNNING"}]}
    assert not helper.live_job(jobs, "saqshy-correlate")
    jobs["jobs"].append({"name": "saqshy-correlate", "state": "RESTARTING"})
    assert helper.live_job(jobs, "saqshy-correlate")
    assert helper.member_hosts(["/172.18.0.5", "", "10.0.0.2"]) == {"172.18.0.5", "10.0.0.2"}
    assert helper.replica_name("saqshy-worker-2.saqshy_default", "3f2a9c1d") == "saqshy-worker-2"
    assert helper.replica_name(None, "3f2a9c1d") == "3f2a9c1d"
    assert helper.replica_name("3f2a9c1d.saqshy_default", "3f2a9c1d") == "3f2a9c1d"
    assert helper.main(["nonsense"]) == 2


@pytest.fixture
def http_server() -> Iterator[str]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = json.dumps({"jobs": [{"name": "saqshy-correlate", "state": "RUNNING"}]}).encode()
            self.send_response(200 if self.path != "/missing" else 404)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_helper_http_checks(http_server: str) -> None:
    script = str(ROOT / "infra" / "compose" / "saqshy_compose.py")

    def run(*args: str) -> int:
        return subprocess.run([sys.executable, script, *args], capture_output=True, timeout=30).returncode

    assert run("http", f"{http_server}/metrics") == 0
    assert run("http", f"{http_server}/missing") == 1
    assert run("http", "http://127.0.0.1:9/") == 1
    assert run("flink-job-running", http_server, "saqshy-correlate") == 0
    assert run("flink-job-running", http_server, "another-job") == 1
    assert run("flink-taskmanager", http_server) == 1  # this host is no TaskManager of it
    out = subprocess.run([sys.executable, script, "instance-id"], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0 and out.stdout.strip()
