#!/usr/bin/env bash
# The Esper harness of the Esper comparison benchmark (tests/bench/esper.py, docs/esper.md).
#
#   infra/esper/esper.sh build                       Esper 8.9 + Jackson from Maven Central (pom.xml, cached
#                                                    in ~/.m2) into target/lib; javac the harness into
#                                                    target/classes (skipped when up to date)
#   infra/esper/esper.sh run FILE OOO_S [EPL]        the harness (EsperBench): reads "run" lines on stdin,
#                                                    one JSON line per round on stdout
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
LIB="$HERE/target/lib"
CLASSES="$HERE/target/classes"
SRC="$HERE/src/main/java"

build() {
  if ! [ -f "$LIB/.complete" ] || [ "$HERE/pom.xml" -nt "$LIB/.complete" ]; then
    echo "esper: fetching Esper and Jackson (Maven Central, cached in ~/.m2)" >&2
    (cd "$HERE" && mvn -q -B dependency:copy-dependencies -DoutputDirectory=target/lib -DincludeScope=runtime)
    touch "$LIB/.complete"
  fi
  local stamp="$CLASSES/.complete"
  if [ -f "$stamp" ] && [ -z "$(find "$SRC" -name '*.java' -newer "$stamp")" ]; then return 0; fi
  mkdir -p "$CLASSES"
  javac --release 17 -cp "$LIB/*" -d "$CLASSES" $(find "$SRC" -name '*.java')
  touch "$stamp"
}

run() {
  build
  # A fixed heap: the day's lines are held in memory (about 0.5 GB for 1.3 million events).
  exec java -Xms2g -Xmx3g -XX:+UseParallelGC -cp "$CLASSES:$LIB/*" org.saqshy.bench.EsperBench \
    "$1" "$2" "${3:-$HERE/patterns.epl}"
}

case "${1:-}" in
  build) build ;;
  run) shift; run "$@" ;;
  *) echo "usage: $0 build | run FILE OOO_SECONDS [EPL]" >&2; exit 2 ;;
esac
