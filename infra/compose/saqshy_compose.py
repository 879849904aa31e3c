#!/usr/bin/env python3
"""Health checks and small helpers of the docker-compose services; the images install this file as
/usr/local/bin/saqshy-compose. Standard library only, except `kafka-group` (confluent-kafka, in the images
that have the kafka extra).

  saqshy-compose http URL                    0 when URL answers 2xx within 5 s (worker metrics, Flink REST)
  saqshy-compose flink-taskmanager URL       0 when the JobManager at URL lists a TaskManager at this
                                             container's address (registered, so it has slots to offer)
  saqshy-compose flink-job-running URL NAME  0 when a job named NAME is running (or starting, restarting) on
                                             the cluster at URL: the flink-job service then submits no second one
  saqshy-compose kafka-group GROUP           0 when consumer group GROUP has a member at this container's address
                                             (bootstrap from SAQSHY_KAFKA_BOOTSTRAP_SERVERS, plaintext)
  saqshy-compose instance-id                 this replica's stable name (saqshy-worker-2: the container name,
                                             from Docker's DNS), else the hostname

Exit status 1 and one line on stderr when a check fails, so `docker inspect` shows why.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import socket
import sys
import urllib.request
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

TIMEOUT_S = 5.0
LIVE_JOB_STATES = frozenset({"INITIALIZING", "CREATED", "RUNNING", "RESTARTING", "RECONCILING"})
# pekko.tcp://flink@172.18.0.6:6122/user/rpc/taskmanager_0, and ids such as 172.18.0.6:6122-5a9f1b
_TM_HOST = re.compile(r"(?:@|^)\[?([0-9A-Za-z_.:-]+?)\]?:\d+(?:[/-]|$)")


def fetch_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=TIMEOUT_S) as response:
        return json.load(response)


def own_addresses(hostname: str | None = None) -> set[str]:
    """The addresses this container is reached at (its hostname resolves to them in Docker's /etc/hosts)."""
    name = hostname or socket.gethostname()
    found: set[str] = set()
    with contextlib.suppress(OSError):
        found.update(str(info[4][0]) for info in socket.getaddrinfo(name, None))
    return {a for a in found if not a.startswith("127.") and a != "::1"}


def taskmanager_hosts(overview: Mapping[str, Any]) -> set[str]:
    """Hosts of the TaskManagers in a JobManager's /taskmanagers answer."""
    hosts: set[str] = set()
    for tm in overview.get("taskmanagers", []):
        for field in ("path", "id"):
            match = _TM_HOST.search(str(tm.get(field, "")))
            if match:
                hosts.add(match.group(1))
    return hosts


def live_job(jobs: Mapping[str, Any], name: str) -> bool:
    """Whether /jobs/overview lists a job of that name that is not finished, failed or cancelled."""
    return any(j.get("name") == name and j.get("state") in LIVE_JOB_STATES for j in jobs.get("jobs", []))


def member_hosts(hosts: Iterable[str]) -> set[str]:
    """Kafka reports a member's host as '/172.18.0.5'."""
    return {h.lstrip("/") for h in hosts if h}


def replica_name(ptr_name: str | None, hostname: str) -> str:
    """Compose names containers PROJECT-SERVICE-N; Docker's DNS answers a container's address with
    'PROJECT-SERVICE-N.NETWORK'. That name survives restarts and re-creation, unlike the hostname (the id)."""
    if ptr_name:
        label = ptr_name.split(".", 1)[0]
        if re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*-\d+", label):
            return label
    return hostname


def _fail(message: str) -> int:
    print(f"saqshy-compose: {message}", file=sys.stderr)
    return 1


def check_http(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_S) as response:
            status = int(response.status)
    except OSError as exc:
        return _fail(f"{url}: {exc}")
    return 0 if 200 <= status < 300 else _fail(f"{url}: HTTP {status}")


def check_taskmanager(url: str) -> int:
    try:
        hosts = taskmanager_hosts(fetch_json(url.rstrip("/") + "/taskmanagers"))
    except (OSError, ValueError) as exc:
        return _fail(f"{url}: {exc}")
    mine = own_addresses() | {socket.gethostname()}  # Flink names a TaskManager by address, or by host name
    if hosts & mine:
        return 0
    return _fail(f"no TaskManager at {sorted(mine)} registered with {url} (registered: {sorted(hosts)})")


def check_job(url: str, name: str) -> int:
    try:
        running = live_job(fetch_json(url.rstrip("/") + "/jobs/overview"), name)
    except (OSError, ValueError) as exc:
        return _fail(f"{url}: {exc}")
    return 0 if running else _fail(f"no live job named {name!r} on {url}")


def check_group(group: str) -> int:
    from confluent_kafka.admin import AdminClient  # type: ignore[import-untyped]

    bootstrap = os.environ.get("SAQSHY_KAFKA_BOOTSTRAP_SERVERS", "kafka:9092")
    admin = AdminClient({"bootstrap.servers": bootstrap, "socket.timeout.ms": int(TIMEOUT_S * 1000)})
    try:
        description = admin.describe_consumer_groups([group], request_timeout=TIMEOUT_S)[group].result()
    except Exception as exc:  # KafkaException, timeouts
        return _fail(f"group {group!r} on {bootstrap}: {exc}")
    hosts = member_hosts(m.host for m in description.members)
    mine = own_addresses()
    return 0 if hosts & mine else _fail(f"group {group!r} has no member at {sorted(mine)} (members: {sorted(hosts)})")


def instance_id() -> int:
    hostname = socket.gethostname()
    ptr = None
    for address in sorted(own_addresses(hostname)):
        try:
            ptr = socket.gethostbyaddr(address)[0]
            break
        except OSError:
            continue
    print(replica_name(ptr, hostname))
    return 0


def main(argv: Sequence[str]) -> int:
    match list(argv):
        case ["http", url]:
            return check_http(url)
        case ["flink-taskmanager", url]:
            return check_taskmanager(url)
        case ["flink-job-running", url, name]:
            return check_job(url, name)
        case ["kafka-group", group]:
            return check_group(group)
        case ["instance-id"]:
            return instance_id()
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
