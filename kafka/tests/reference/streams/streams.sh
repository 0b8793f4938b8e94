#!/usr/bin/env bash
# Kafka Streams' side of strom's streams comparison: the topologies of
# src/main/java/strom/reference/StreamsReference.java, run with Kafka's TopologyTestDriver.
#
#   streams.sh build             fetch the jars (Maven) and compile the sources (javac) into the
#                                cache, once per version of pom.xml and the sources; print the
#                                folder
#   streams.sh run INPUT OUTPUT [TOPOLOGY...]    each topology over INPUT, its outputs to OUTPUT
#   streams.sh time INPUT TOPOLOGY...            the same, timed, one line per topology
#
# Environment: KAFKA_CACHE (default target/kafka-reference at the repository's root),
# STREAMS_HEAP (default -Xmx1g).
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../../../.." && pwd)"
cache="${KAFKA_CACHE:-$root/target/kafka-reference}"
# Keyed by the pom and the sources: any change is a new build, never a stale one.
hash="$(cd "$here" && cat pom.xml $(find src -name '*.java' | sort) | sha256sum | cut -c1-12)"
build="$cache/streams-$hash"

die() {
  echo "streams.sh: $*" >&2
  exit 1
}

build() {
  # Warm: one test for a directory, no Maven, no javac.
  [ -d "$build" ] && return 0
  command -v mvn >/dev/null || die "mvn is needed to fetch Kafka Streams (apt-get install maven)"
  command -v javac >/dev/null || die "javac (17 or newer) is needed (apt-get install openjdk-17-jdk-headless)"
  rm -rf "$build.partial"
  mkdir -p "$build.partial/classes"
  mvn -B -q -f "$here/pom.xml" dependency:copy-dependencies -DincludeScope=runtime \
    -DoutputDirectory="$build.partial/lib" >&2 ||
    die "fetching org.apache.kafka:kafka-streams from Maven Central failed"
  javac -nowarn -encoding UTF-8 --release 17 -cp "$build.partial/lib/*" \
    -d "$build.partial/classes" $(find "$here/src" -name '*.java') >&2 ||
    die "compiling $here/src failed"
  # Whole or not at all: a build cut short must not look like a cache.
  mv "$build.partial" "$build"
}

java_main() {
  build
  command -v java >/dev/null || die "java (17 or newer) is needed to run Kafka Streams"
  exec java ${STREAMS_HEAP:--Xmx1g} -XX:+UseSerialGC -cp "$build/classes:$build/lib/*" \
    strom.reference.StreamsReference "$@"
}

case "${1:-}" in
build) build; echo "$build" ;;
run | time) java_main "$@" ;;
*) die "usage: streams.sh build | run INPUT OUTPUT [TOPOLOGY...] | time INPUT TOPOLOGY..." ;;
esac
