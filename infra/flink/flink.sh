#!/usr/bin/env bash
# The Flink side of Saqshy's Flink job: the Kafka connector jar, and a local standalone cluster.
#
#   infra/flink/flink.sh fetch    download flink-sql-connector-kafka (pom.xml) from Maven Central once
#                                 (cached in ~/.m2) into target/lib; the job ships it with pipeline.jars
#   infra/flink/flink.sh up [N]   a local standalone cluster from the apache-flink wheel: a JobManager and
#                                 N TaskManagers (default 1), each its own JVM (and its own Python interpreter
#                                 in thread mode); REST on 127.0.0.1:${FLINK_REST_PORT:-8081}
#   infra/flink/flink.sh down     stop it
#   infra/flink/flink.sh jobmanager|taskmanager   one process in the foreground (containers; FLINK_CONF_DIR)
#
# Flink's Python runtime (flink-python, in the wheel's opt/) goes on the cluster's classpath: pemja's native
# library loads once per JVM, so a second job's copy of it in its own classloader fails.
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

lib_dir() {  # the wheel's lib/ plus flink-python from opt/: Python operators of every job share one pemja
  local home="$1" dir="$2"
  mkdir -p "$dir"
  ln -sf "$home"/lib/*.jar "$home"/opt/flink-python-*.jar "$dir/"
}

foreground() {  # jobmanager|taskmanager in the foreground, for containers (FLINK_CONF_DIR set by the caller)
  local home; home="$(flink_home)"
  lib_dir "$home" "${TMPDIR:-/tmp}/flink-lib"
  export FLINK_LIB_DIR="${TMPDIR:-/tmp}/flink-lib"
  exec "$home/bin/$1.sh" start-foreground
}

up() {
  fetch
  local n="${1:-1}" home purelib opts
  home="$(flink_home)"
  # the wheel's JVM options (module opens that pemja and Flink need on Java 17), kept as they are
  opts="$(grep -m1 '^      all: --add' "$home/conf/config.yaml" | sed 's/^ *all: //')"
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
env: {java: {opts: {all: "$opts"}}}
CONF
  lib_dir "$home" "$DATA/lib"
  export FLINK_CONF_DIR="$DATA/conf" FLINK_LOG_DIR="$DATA/log" FLINK_LIB_DIR="$DATA/lib" PYTHONPATH="$ROOT/jobs/flink/embedded_init:$purelib:$ROOT"
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
  export FLINK_CONF_DIR="$DATA/conf" FLINK_LOG_DIR="$DATA/log" FLINK_LIB_DIR="$DATA/lib"
  [ -d "$DATA/conf" ] || return 0
  "$home/bin/taskmanager.sh" stop-all >&2 || true
  "$home/bin/jobmanager.sh" stop >&2 || true
}

case "${1:-}" in
  fetch) fetch ;;
  up) up "${2:-1}" ;;
  down) down ;;
  jobmanager|taskmanager) foreground "$1" ;;
  *) echo "usage: $0 fetch|up [TASKMANAGERS]|down|jobmanager|taskmanager" >&2; exit 2 ;;
esac
