"""The monitoring of the compose stack, checked against the code so that neither drifts from it.

- every metric the Grafana dashboard queries is one a service really exports: the names come from the registries
  of WorkerMetrics, ArchiveMetrics and DetectorMetrics (a counter exposes NAME_total, a histogram NAME_bucket,
  _sum and _count) and, for the Flink job, from the operator's counters as Flink's Prometheus reporter names them;
- infra/prometheus/prometheus.yml scrapes exactly the ports the compose services serve their metrics on;
- the dashboard and the datasource are valid Grafana provisioning, and every panel names the provisioned
  datasource; the prometheus and grafana services mount these files where the provisioning expects them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from prometheus_client import CollectorRegistry

from detectors.metrics import DetectorMetrics
from jobs.archive.metrics import ArchiveMetrics
from jobs.flink.operator import FLINK_COUNTERS
from streams.kafka.metrics import WorkerMetrics
from tests.deploy.test_compose import mounts, raw_compose, services

ROOT = Path(__file__).resolve().parents[2]
GRAFANA = ROOT / "infra" / "grafana"
DASHBOARDS = GRAFANA / "dashboards"
PROMETHEUS_YML = ROOT / "infra" / "prometheus" / "prometheus.yml"
FLINK_CONFIG = ROOT / "infra" / "flink" / "conf" / "config.yaml"
# what Flink's Prometheus reporter calls a counter of the operator's metric group `saqshy` (jobs/flink/operator.py)
FLINK_OPERATOR_PREFIX = "flink_taskmanager_job_task_operator_saqshy_"
# series Prometheus makes itself for every target
PROMETHEUS_SERIES = {"up"}
# suffixes of the series each metric type exposes (prometheus_client's exposition)
SERIES_SUFFIXES = {"counter": ("_total", "_created"), "gauge": ("",), "histogram": ("_bucket", "_sum", "_count")}
PROMQL_WORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "offset", "and", "or", "unless"}


# --- what the services export ------------------------------------------------------------------------------------
def series_names(registry: CollectorRegistry) -> set[str]:
    """Every series name a registry can expose, also for labelled metrics that have no child yet."""
    names: set[str] = set()
    for family in registry.collect():
        names.update(family.name + suffix for suffix in SERIES_SUFFIXES[family.type])
    return names


@cache
def exported_names() -> frozenset[str]:
    registries = [
        WorkerMetrics().registry,
        ArchiveMetrics().registry,
        DetectorMetrics("cam-1", stream=True).registry,
    ]
    names = set().union(*(series_names(r) for r in registries))
    names.update(FLINK_OPERATOR_PREFIX + counter for counter in FLINK_COUNTERS)
    return frozenset(names | PROMETHEUS_SERIES)


# --- what the dashboard queries ----------------------------------------------------------------------------------
def dashboards() -> dict[str, dict[str, Any]]:
    found = {p.name: json.loads(p.read_text()) for p in sorted(DASHBOARDS.glob("*.json"))}
    assert found, f"no dashboard in {DASHBOARDS}"
    return found


def panels(dashboard: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every panel, also those nested in collapsed rows."""
    for panel in dashboard["panels"]:
        yield panel
        yield from panel.get("panels", [])


def exprs(dashboard: dict[str, Any]) -> list[str]:
    return [t["expr"] for p in panels(dashboard) for t in p.get("targets", [])]


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression selects: identifiers that are not functions, keywords, label names
    (in braces, by/without lists) or ranges."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)  # string literals (label values)
    text = re.sub(r"\{[^}]*\}", "", text)  # label matchers
    text = re.sub(r"\[[^\]]*\]", "", text)  # ranges, $__rate_interval
    text = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", text)
    names = set()
    for m in re.finditer(r"(?<![\w$.])([A-Za-z_:][\w:]*)(\s*\()?", text):
        if not m.group(2) and m.group(1) not in PROMQL_WORDS:
            names.add(m.group(1))
    return names


def test_metric_names_are_read_from_promql() -> None:
    expr = (
        'histogram_quantile(0.99, sum by (camera, le) (rate(saqshy_detector_inference_ms_bucket{camera="a b"}'
        "[$__rate_interval]))) / on (camera) group_left max(up) > bool 2"
    )
    assert metric_names(expr) == {"saqshy_detector_inference_ms_bucket", "up"}
    assert metric_names("sum(rate(x_total[5m] offset 1h)) or vector(0)") == {"x_total"}


def test_the_registries_name_their_series() -> None:
    names = exported_names()
    assert {"saqshy_events_in_total", "saqshy_consumer_lag", "saqshy_event_to_incident_seconds_bucket"} <= names
    assert "saqshy_events_in" not in names, "a counter's series is NAME_total"
    assert {"saqshy_archive_insert_seconds_count", "saqshy_detector_events_total"} <= names


def test_every_dashboard_metric_is_exported_by_a_service() -> None:
    for file, dashboard in dashboards().items():
        queries = exprs(dashboard)
        assert queries, f"{file}: no queries"
        for expr in queries:
            unknown = metric_names(expr) - exported_names()
            assert not unknown, f"{file}: {expr!r} queries {sorted(unknown)}, which no service exports"


def test_the_dashboard_covers_every_service() -> None:
    used = {n for d in dashboards().values() for e in exprs(d) for n in metric_names(e)}
    required = {
        # worker: throughput, latency, watermark and consumer lag, dead letters, transactions, partitions
        "saqshy_events_in_total",
        "saqshy_incident_updates_out_total",
        "saqshy_event_to_incident_seconds_bucket",
        "saqshy_watermark_lag_seconds",
        "saqshy_consumer_lag",
        "saqshy_dead_letters_total",
        "saqshy_transactions_total",
        "saqshy_partitions",
        # archiver: rows in and out, insert latency, failures, lag
        "saqshy_archive_rows_in_total",
        "saqshy_archive_rows_out_total",
        "saqshy_archive_insert_seconds_bucket",
        "saqshy_archive_insert_failures_total",
        "saqshy_archive_consumer_lag",
        # detector: frames read, inference time, events by analytic, tamper, reconnects
        "saqshy_detector_frames_read_total",
        "saqshy_detector_inference_ms_bucket",
        "saqshy_detector_events_total",
        "saqshy_detector_tamper_events_total",
        "saqshy_detector_reconnects_total",
    }
    assert not required - used, f"the dashboard shows nothing of {sorted(required - used)}"
    quantiles = [e for d in dashboards().values() for e in exprs(d) if "histogram_quantile" in e]
    for expr in quantiles:  # a quantile of a histogram is over the rate of its buckets, grouped by le
        assert re.search(r"rate\(\w+_bucket\b", expr) and re.search(r"by \([^)]*\ble\b", expr), expr
    latency = [e for e in quantiles if "saqshy_event_to_incident_seconds_bucket" in e]
    assert {re.match(r"histogram_quantile\(([\d.]+)", e)[1] for e in latency} >= {"0.5", "0.99"}  # type: ignore[index]


# --- Grafana provisioning ----------------------------------------------------------------------------------------
@cache
def datasources() -> list[dict[str, Any]]:
    doc = yaml.safe_load((GRAFANA / "provisioning" / "datasources" / "prometheus.yml").read_text())
    assert doc["apiVersion"] == 1
    return doc["datasources"]  # type: ignore[no-any-return]


def test_the_datasource_is_the_compose_prometheus() -> None:
    (ds,) = datasources()
    assert ds["type"] == "prometheus" and ds["access"] == "proxy" and ds["uid"]
    port = services()["prometheus"]["ports"][0].rsplit(":", 1)[1]
    assert ds["url"] == f"http://prometheus:{port}"


def test_dashboards_are_valid_provisioning_naming_the_datasource() -> None:
    uids = {ds["uid"] for ds in datasources()}
    seen_uids = set()
    for file, dashboard in dashboards().items():
        assert dashboard["uid"] and re.fullmatch(r"[A-Za-z0-9_-]{1,40}", dashboard["uid"]), file
        assert dashboard["title"] and isinstance(dashboard["schemaVersion"], int), file
        assert dashboard["uid"] not in seen_uids, f"{file}: uid {dashboard['uid']} twice"
        seen_uids.add(dashboard["uid"])
        ids = [p["id"] for p in panels(dashboard)]
        assert len(ids) == len(set(ids)), f"{file}: panel ids repeat"
        for panel in panels(dashboard):
            grid = panel["gridPos"]
            assert grid["x"] + grid["w"] <= 24 and grid["h"] > 0, f"{file}: {panel['title']} off the grid"
            if panel["type"] == "row":
                continue
            assert panel["datasource"]["uid"] in uids, f"{file}: {panel['title']} names an unknown datasource"
            assert panel["targets"], f"{file}: {panel['title']} has no query"
            for target in panel["targets"]:
                assert target.get("datasource", panel["datasource"])["uid"] in uids, panel["title"]
                assert target["refId"] and target["expr"].strip(), panel["title"]
            refs = [t["refId"] for t in panel["targets"]]
            assert len(refs) == len(set(refs)), f"{file}: {panel['title']} repeats a refId"


def test_grafana_mounts_the_provisioning_where_it_is_read() -> None:
    provider = yaml.safe_load((GRAFANA / "provisioning" / "dashboards" / "saqshy.yml").read_text())
    assert provider["apiVersion"] == 1
    (entry,) = provider["providers"]
    assert entry["type"] == "file"
    grafana = services()["grafana"]
    targets = dict(mounts(grafana))
    assert targets["./infra/grafana/provisioning"] == "/etc/grafana/provisioning"
    assert targets["./infra/grafana/dashboards"] == entry["options"]["path"]
    home = grafana["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert home.startswith(entry["options"]["path"] + "/") and (DASHBOARDS / Path(home).name).exists()
    assert grafana["depends_on"]["prometheus"]["condition"] == "service_healthy"
    for name in ("prometheus", "grafana"):
        assert services()[name]["profiles"] == ["ops"]
    password = raw_compose()["services"]["grafana"]["environment"]["GF_SECURITY_ADMIN_PASSWORD"]
    assert password.startswith("${GRAFANA_ADMIN_PASSWORD"), "the admin password comes from .env"


# --- Prometheus scrape targets -----------------------------------------------------------------------------------
def scrape_targets() -> set[tuple[str, int]]:
    """(host, port) of every target of prometheus.yml, static or found through Docker's DNS."""
    found = set()
    for job in yaml.safe_load(PROMETHEUS_YML.read_text())["scrape_configs"]:
        for static in job.get("static_configs", []):
            for target in static["targets"]:
                host, port = target.rsplit(":", 1)
                found.add((host, int(port)))
        for dns in job.get("dns_sd_configs", []):
            assert dns.get("type", "SRV") == "A", "Docker's DNS answers A records; SRV needs no port"
            found.update((name, int(dns["port"])) for name in dns["names"])
    return found


def metrics_ports() -> set[tuple[str, int]]:
    """(service, port) of what the compose services serve metrics on: --metrics-port in their command, and
    Flink's Prometheus reporter on the JobManager and TaskManagers."""
    found = set()
    for name, svc in services().items():
        command = [svc.get("entrypoint"), svc.get("command")]
        text = " ".join(c if isinstance(c, str) else " ".join(c or []) for c in command)
        for port in re.findall(r"--metrics-port[ =](\d+)", text):
            found.add((name, int(port)))
    reporter = yaml.safe_load(FLINK_CONFIG.read_text())["metrics"]["reporter"]["prom"]
    assert reporter["factory.class"] == "org.apache.flink.metrics.prometheus.PrometheusReporterFactory"
    for name in ("jobmanager", "taskmanager"):
        found.add((name, int(reporter["port"])))
    return found


def test_prometheus_scrapes_exactly_the_ports_the_services_serve() -> None:
    targets = scrape_targets()
    assert {("worker", 9108), ("archiver", 9109), ("detector", 9110)} <= targets
    assert targets == metrics_ports()
    for service, port in targets:
        svc = services()[service]
        exposed = {int(str(p).split(":")[-1]) for p in svc.get("expose", []) + svc.get("ports", [])}
        assert port in exposed, f"{service} does not expose {port}, which Prometheus scrapes"


def test_prometheus_reads_this_config() -> None:
    prometheus = services()["prometheus"]
    targets = dict(mounts(prometheus))
    config = next(a for a in prometheus["command"] if a.startswith("--config.file="))
    assert targets["./infra/prometheus/prometheus.yml"] == config.split("=", 1)[1]
    assert any(
        a.startswith("--storage.tsdb.path=") and a.split("=", 1)[1] in targets.values() for a in prometheus["command"]
    ), "the TSDB lives on a volume"
