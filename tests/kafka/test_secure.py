"""Secure transport against a real broker: SASL_SSL (SCRAM-SHA-512 over TLS, certificates made by the test) and
Kafka ACLs per service principal (infra/kafka/acls.yaml, applied by `saqshy topics apply --acls`).

Every service runs as an operator would start it, the `saqshy` command with the documented SAQSHY_KAFKA_* (and
SAQSHY_DETECTOR_KAFKA_*) settings, each as its own principal; the test reads the results back over the broker's
PLAINTEXT listener, whose principal is a super user.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from confluent_kafka import KafkaError, Producer

from rules.loader import CATALOG
from schemas.topics import EVENT_TOPICS, INCIDENTS, INCIDENTS_LATEST
from streams.kafka.acls import load_acls
from streams.kafka.settings import KafkaSettings
from streams.kafka.topics import STATE
from tests.kafka.helpers import embedded_versions, incident_versions, read_topic
from tests.kafka.secure import USERS, SecureBroker, secure_broker

pytestmark = pytest.mark.kafka
ROOT = Path(__file__).resolve().parents[2]
SCENARIO = ROOT / "tests" / "golden" / "scenarios" / "fire_camera_and_calls" / "events.jsonl"
SHARED = ROOT.parent / "shared"
ABODA = SHARED / "data" / "video" / "aboda_video4.avi"
MODEL = SHARED / "models" / "yolox_nano.onnx"
FAIL_FAST_S = 15.0  # a refusal must end the command well before any retry or session timeout would


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecureBroker]:
    """A broker of this module's own (the session broker has no authorizer), topics and ACLs applied over SASL_SSL
    by the admin (a super user)."""
    b = secure_broker(tmp_path_factory.mktemp("secure-kafka"))
    b.up()
    try:
        # one partition a topic: the archiver's lag check asks for every partition's offsets one by one
        done = saqshy(b, "admin", "topics", "apply", "--partitions", "1", "--acls")
        assert done.returncode == 0, done.stdout + done.stderr
        assert f"acls: {len(load_acls())} bindings for 5 principals" in done.stdout
        yield b
    finally:
        b.down()


def client_env(b: SecureBroker, user: str, password: str | None = None, ca: Path | None = None) -> dict[str, str]:
    """The documented settings of a SASL_SSL client, for the Kafka commands and for the detector."""
    values = {
        "BOOTSTRAP_SERVERS": b.sasl_ssl,
        "SECURITY_PROTOCOL": "SASL_SSL",
        "SASL_MECHANISM": "SCRAM-SHA-512",
        "SASL_USERNAME": user,
        "SASL_PASSWORD": password if password is not None else USERS[user],
        "SSL_CAFILE": str(ca or b.ca),
    }
    return {f"{prefix}{k}": v for prefix in ("SAQSHY_KAFKA_", "SAQSHY_DETECTOR_KAFKA_") for k, v in values.items()}


def saqshy(
    b: SecureBroker, user: str, *args: str, password: str | None = None, ca: Path | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SAQSHY_KAFKA_", "SAQSHY_DETECTOR_KAFKA_"))}
    env.update(client_env(b, user, password, ca))
    return subprocess.run(
        [sys.executable, "-m", "saqshy", *args], env=env, capture_output=True, text=True, timeout=timeout
    )


def super_user(b: SecureBroker) -> KafkaSettings:
    return KafkaSettings(bootstrap_servers=b.plaintext)


def as_principal(b: SecureBroker, user: str) -> KafkaSettings:
    return KafkaSettings(
        bootstrap_servers=b.sasl_ssl,
        security_protocol="SASL_SSL",
        sasl_mechanism="SCRAM-SHA-512",
        sasl_username=user,
        sasl_password=USERS[user],  # type: ignore[arg-type]
        ssl_cafile=str(b.ca),
    )


def test_each_service_works_over_sasl_ssl_as_its_own_principal(broker: SecureBroker, tmp_path: Path) -> None:
    """produce -> bounded worker -> archive to chDB, each as its principal: the worker's incidents are exactly the
    embedded runner's, and the archive holds every version."""
    done = saqshy(broker, "producer", "produce", "--input", str(SCENARIO))
    assert done.returncode == 0, done.stderr
    done = saqshy(broker, "worker", "worker", "--bounded", "--no-context", "--group", "saqshy-worker-secure")
    assert done.returncode == 0, done.stderr
    want = embedded_versions([CATALOG], [line for line in SCENARIO.read_bytes().splitlines() if line.strip()])
    got = incident_versions(super_user(broker))
    assert want and sorted(got) == sorted(want)

    archive = tmp_path / "archive"
    done = saqshy(broker, "archiver", "archive", "--archive", f"chdb://{archive}", "--until-idle", "1")
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout.strip().splitlines()[-1])["archive"]
    assert summary["incidents"] == len(want) and summary["events"] >= 6 and summary["dead_letters"] == 0


@pytest.mark.video
def test_the_detector_publishes_over_sasl_ssl_as_its_own_principal(broker: SecureBroker, tmp_path: Path) -> None:
    if not (ABODA.is_file() and MODEL.is_file()):
        pytest.skip("needs the shared ABODA clip and the reference model")
    before = len(read_topic(super_user(broker), EVENT_TOPICS["video.detection"], idle=0.5))
    done = saqshy(
        broker, "detector", "detect", "--source", str(ABODA), "--config",
        str(ROOT / "detectors" / "examples" / "aboda_left_bag.yaml"), "--out", "kafka",
        "--start", "2026-11-22T10:00:00+08:00", "--max-frames", "60",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    summary = next(json.loads(line) for line in (done.stdout + done.stderr).splitlines() if '"camera"' in line)
    events = summary["events"]
    got = read_topic(super_user(broker), EVENT_TOPICS["video.detection"], idle=1.0)
    assert len(got) - before == events > 0


def _refused(settings: KafkaSettings, topic: str) -> bool:
    """Whether the broker refuses this principal even the topic's metadata (no describe, so no read or write)."""
    meta = Producer(settings.producer_config()).list_topics(topic, timeout=20).topics[topic]
    return meta.error is not None and meta.error.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED


def test_acls_refuse_what_a_principal_was_not_given(broker: SecureBroker) -> None:
    """The detector may not even see the incidents; the archiver may not see the worker's state, and may read
    the events but not write them."""
    assert _refused(as_principal(broker, "detector"), INCIDENTS)
    archiver = as_principal(broker, "archiver")
    assert _refused(archiver, STATE) and not _refused(archiver, INCIDENTS)
    console = as_principal(broker, "console")  # the latest incidents only: every version is the archive's
    assert _refused(console, STATE) and _refused(console, INCIDENTS) and not _refused(console, INCIDENTS_LATEST)

    refused: list[KafkaError | None] = []
    producer = Producer(archiver.producer_config())
    producer.produce(EVENT_TOPICS["call.112"], b"{}", on_delivery=lambda err, _msg: refused.append(err))
    assert producer.flush(20) == 0
    assert refused and refused[0] is not None and refused[0].code() == KafkaError.TOPIC_AUTHORIZATION_FAILED


REFUSALS: list[tuple[str, str, tuple[str, ...]]] = [
    ("worker", "wrong password", ("worker", "--bounded", "--group", "saqshy-worker-refused")),
    ("worker", "untrusted certificate", ("worker", "--bounded", "--group", "saqshy-worker-refused")),
    ("producer", "wrong password", ("produce", "--input", str(SCENARIO))),
    ("archiver", "untrusted certificate", ("archive", "--archive", "chdb://{tmp}/archive", "--until-idle", "1")),
    ("detector", "wrong password", (
        "detect", "--source", str(ABODA), "--config", str(ROOT / "detectors" / "examples" / "aboda_left_bag.yaml"),
        "--out", "kafka", "--max-frames", "5",
    )),
]  # fmt: skip


@pytest.mark.parametrize(
    ("user", "fault", "args"), REFUSALS, ids=[f"{u}-{f.replace(' ', '-')}" for u, f, _ in REFUSALS]
)
def test_a_refusal_fails_fast_in_one_line_without_the_secret(
    broker: SecureBroker, tmp_path: Path, user: str, fault: str, args: tuple[str, ...]
) -> None:
    if user == "detector" and not MODEL.is_file():
        pytest.skip("needs the reference model")
    secret = "Wr0ng-Secret-Value" if fault == "wrong password" else USERS[user]
    ca = broker.rogue_ca if fault == "untrusted certificate" else None
    t0 = time.monotonic()
    done = saqshy(broker, user, *(a.format(tmp=tmp_path) for a in args), password=secret, ca=ca, timeout=60)
    took = time.monotonic() - t0
    output = done.stdout + done.stderr
    assert done.returncode == 1, output
    assert took < FAIL_FAST_S, f"took {took:.1f} s"
    errors = [line for line in output.splitlines() if line.startswith("Error: ")]
    assert len(errors) == 1, output
    prefix = "SAQSHY_DETECTOR_KAFKA_" if user == "detector" else "SAQSHY_KAFKA_"
    expected = prefix + ("SASL_PASSWORD" if fault == "wrong password" else "SSL_CAFILE")
    assert expected in errors[0], errors[0]
    assert secret not in output and "Traceback" not in output
