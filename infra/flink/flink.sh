#!/usr/bin/env bash
# The Flink side of Saqshy's Flink job: the Kafka connector jar, and a local standalone cluster.
#
#   infra/flink/flink.sh fetch    download flink-sql-connector-kafka (pom.xml) from Maven Central once
#                                 (cached in ~/.m2) into target/lib; the job ships it with pipeline.jars
#   infra/flink/flink.sh up [N]   a local standalone cluster from the apache-flink wheel: a JobManager and
#                                 N TaskManagers (default 1), each its own JVM (and its own Python interpreter
#                                 in thread mode); REST on 127.0.0.1:${FLINK_REST_PORT:-8081}
#   infra/flink/flink.sh down     stop it
#
# The wheel's jars and scripts are used as they are; configuration and logs go to build/flink.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
LIB="$HERE/target/lib"
PYTHON="${PYTHON:-$ROOT/.venv/bin/python}"
DATA="${FLINK_DATA:-$ROOT/build/flink}"
REST_PORT="${FLINK_REST_PORT:-8081}"

fetch() {
  if [ -f "$LIB/.complete" ] && [ "$LIB/.complete" -nt "$HERE/pom.xml" ]; then return 0; fi
  echo "flink: fetching the Kafka connector (Maven Central, cached in ~/.m2)" >&2
  (cd "$HERE" && mvn -q -B dependency:copy-dependencies -DoutputDirectory=target/lib -DincludeScope=runtime)
  touch "$LIB/.complete"
}

flink_home() {
  "$PYTHON" -c 'import os, pyflink; print(os.path.dirname(pyflink.__file__))'
}

up() {
  fetch
  local n="${1:-1}" home purelib
  home="$(flink_home)"
  purelib="$("$PYTHON" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
  mkdir -p "$DATA/conf" "$DATA/log"
  cp "$home/conf/"* "$DATA/conf/" 2>/dev/null || true
  cat >"$DATA/conf/config.yaml" <<CONF
jobmanager:
  rpc: {address: 127.0.0.1, port: 6123}
  bind-host: 127.0.0.1
  memory: {process: {size: 1024m}}
taskmanager:
  bind-host: 127.0.0.1
  host: 127.0.0.1
  numberOfTaskSlots: 1
  memory: {process: {size: 1280m}}
rest: {address: 127.0.0.1, bind-address: 127.0.0.1, port: $REST_PORT}
parallelism: {default: 1}
python: {executable: $PYTHON, execution-mode: thread}
env: {java: {opts: {all: "--add-opens=java.base/java.util=ALL-UNNAMED"}}}
CONF
  export FLINK_CONF_DIR="$DATA/conf" FLINK_LOG_DIR="$DATA/log" PYTHONPATH="$purelib:$ROOT"
  "$home/bin/jobmanager.sh" start >&2
  for _ in $(seq 1 "$n"); do "$home/bin/taskmanager.sh" start >&2; done
  for _ in $(seq 1 120); do
    if curl -fs "http://127.0.0.1:$REST_PORT/taskmanagers" 2>/dev/null | grep -o '"id"' | wc -l | grep -qx "$n"; then
      echo "flink: up, REST on 127.0.0.1:$REST_PORT, $n TaskManager(s)" >&2; return 0
    fi
    sleep 1
  done
  echo "flink: the cluster did not come up; logs in $DATA/log" >&2; exit 1
}

down() {
  local home; home="$(flink_home)"
  export FLINK_CONF_DIR="$DATA/conf" FLINK_LOG_DIR="$DATA/log"
  [ -d "$DATA/conf" ] || return 0
  "$home/bin/taskmanager.sh" stop-all >&2 || true
  "$home/bin/jobmanager.sh" stop >&2 || true
}

case "${1:-}" in
  fetch) fetch ;;
  up) up "${2:-1}" ;;
  down) down ;;
  *) echo "usage: $0 fetch|up [TASKMANAGERS]|down" >&2; exit 2 ;;
esac
