#!/usr/bin/env bash
# A local Apache Kafka 4 broker (KRaft, one combined broker/controller on 127.0.0.1) for development and CI.
#
#   infra/kafka/kafka.sh fetch   download the jars from Maven Central once (cached in ~/.m2), copy to target/lib
#   infra/kafka/kafka.sh up      format storage if new, start the broker, wait until it answers
#   infra/kafka/kafka.sh down    stop it (SIGTERM, then SIGKILL after a grace period)
#   infra/kafka/kafka.sh status  exit 0 when it is running
#
# KAFKA_PORT (9092), KAFKA_CONTROLLER_PORT (9093) and KAFKA_DATA (build/kafka) choose where; several brokers
# can run side by side with different values (tests use their own ports and data directories).
# KAFKA_ADVERTISED_PORT (KAFKA_PORT) is the port clients are told to connect to: the chaos tests put a TCP proxy
# of their own there, so every client connection goes through it and the tests can cut or slow the network.
# Secure transport (only when KAFKA_SASL_SSL_PORT is set; the PLAINTEXT listener stays as it is): a second listener,
# SASL_SSL (SCRAM-SHA-512 over TLS) on 127.0.0.1:KAFKA_SASL_SSL_PORT, whose key and certificate chain are the PEM
# file KAFKA_TLS_DIR/broker.pem; SCRAM users created at format time from KAFKA_SCRAM_USERS ("name=password ...");
# and Kafka's StandardAuthorizer, with the PLAINTEXT and controller principal (User:ANONYMOUS) and
# KAFKA_SUPER_USERS ("User:a;User:b") as super users, so only ACLs let a SCRAM user do anything.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
PORT="${KAFKA_PORT:-9092}"
ADVERTISED_PORT="${KAFKA_ADVERTISED_PORT:-$PORT}"
CONTROLLER_PORT="${KAFKA_CONTROLLER_PORT:-9093}"
SASL_SSL_PORT="${KAFKA_SASL_SSL_PORT:-}"
DATA="${KAFKA_DATA:-$ROOT/build/kafka}"
LIB="$HERE/target/lib"
JAVA="${JAVA:-java}"
HEAP="${KAFKA_HEAP:--Xms256m -Xmx768m}"

fetch() {
  if [ -f "$LIB/.complete" ] && [ "$LIB/.complete" -nt "$HERE/pom.xml" ]; then return 0; fi
  echo "kafka: fetching jars (Maven Central, cached in ~/.m2)" >&2
  rm -rf "$LIB"  # a jar left from an older pom (two slf4j APIs) would shadow the right one
  (cd "$HERE" && mvn -q -B dependency:copy-dependencies -DoutputDirectory=target/lib -DincludeScope=runtime)
  touch "$LIB/.complete"
}

java_cmd() {  # main class, args...
  local main="$1"; shift
  exec "$JAVA" $HEAP -XX:+UseG1GC -Djava.awt.headless=true \
    -Dlog4j2.configurationFile="$HERE/log4j2.yaml" -Dkafka.logs.dir="$DATA" \
    -cp "$LIB/*" "$main" "$@"
}

running() {
  [ -f "$DATA/broker.pid" ] && kill -0 "$(cat "$DATA/broker.pid")" 2>/dev/null
}

secure_listener() {  # add the SASL_SSL listener, SCRAM and the authorizer to the generated server.properties
  local props="$DATA/server.properties" tls="${KAFKA_TLS_DIR:?KAFKA_SASL_SSL_PORT needs KAFKA_TLS_DIR}"
  [ -f "$tls/broker.pem" ] || { echo "kafka: no $tls/broker.pem (key and certificate chain, PEM)" >&2; exit 1; }
  sed -i -e "s|^listeners=|listeners=SASL_SSL://127.0.0.1:$SASL_SSL_PORT,|" \
    -e "s|^advertised.listeners=|advertised.listeners=SASL_SSL://127.0.0.1:$SASL_SSL_PORT,|" \
    -e "s|^listener.security.protocol.map=|listener.security.protocol.map=SASL_SSL:SASL_SSL,|" "$props"
  cat >>"$props" <<EOF
listener.name.sasl_ssl.sasl.enabled.mechanisms=SCRAM-SHA-512
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.sasl_ssl.ssl.keystore.type=PEM
listener.name.sasl_ssl.ssl.keystore.location=$tls/broker.pem
listener.name.sasl_ssl.ssl.client.auth=none
authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
super.users=User:ANONYMOUS${KAFKA_SUPER_USERS:+;$KAFKA_SUPER_USERS}
allow.everyone.if.no.acl.found=false
EOF
}

scram_args() {  # --add-scram for each name=password of KAFKA_SCRAM_USERS (format time, KRaft)
  local user
  for user in ${KAFKA_SCRAM_USERS:-}; do
    printf '%s\n' "--add-scram" "SCRAM-SHA-512=[name=${user%%=*},password=${user#*=}]"
  done
}

answers() {  # the broker accepts TCP connections on its port
  (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null
}

up() {
  fetch
  mkdir -p "$DATA"
  if running; then echo "kafka: already running on 127.0.0.1:$PORT (pid $(cat "$DATA/broker.pid"))" >&2; return 0; fi
  sed -e "s|@PORT@|$PORT|g" -e "s|@ADVERTISED_PORT@|$ADVERTISED_PORT|g" -e "s|@CONTROLLER_PORT@|$CONTROLLER_PORT|g" -e "s|@DATA@|$DATA|g" \
    "$HERE/server.properties.in" >"$DATA/server.properties"
  if [ -n "$SASL_SSL_PORT" ]; then secure_listener; fi
  if [ ! -f "$DATA/log/meta.properties" ]; then
    local cluster_id
    cluster_id="$(java_cmd kafka.tools.StorageTool random-uuid 2>/dev/null | tail -n 1)"
    local scram=(); mapfile -t scram < <(scram_args)
    (java_cmd kafka.tools.StorageTool format --standalone -t "$cluster_id" -c "$DATA/server.properties" "${scram[@]}") \
      >"$DATA/format.log" 2>&1 \
      || { cat "$DATA/format.log" >&2; exit 1; }
  fi
  java_cmd kafka.Kafka "$DATA/server.properties" >"$DATA/stdout.log" 2>&1 </dev/null &
  echo $! >"$DATA/broker.pid"
  for _ in $(seq 1 120); do
    if answers; then echo "kafka: up on 127.0.0.1:$PORT (data $DATA)" >&2; return 0; fi
    if ! running; then echo "kafka: the broker exited; last lines of its logs:" >&2; tail -n 30 "$DATA/stdout.log" "$DATA/server.log" >&2 || true; exit 1; fi
    sleep 0.5
  done
  echo "kafka: no answer on 127.0.0.1:$PORT after 60 s" >&2; exit 1
}

down() {
  running || { rm -f "$DATA/broker.pid"; return 0; }
  local pid; pid="$(cat "$DATA/broker.pid")"
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
  kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null || true
  rm -f "$DATA/broker.pid"
  echo "kafka: stopped" >&2
}

case "${1:-}" in
  fetch) fetch ;;
  up) up ;;
  down) down ;;
  status) running ;;
  *) echo "usage: $0 fetch|up|down|status" >&2; exit 2 ;;
esac
