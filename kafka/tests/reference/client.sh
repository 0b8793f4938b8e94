#!/usr/bin/env bash
# Kafka's Java client through the differential scenarios: a small Maven module (client/) whose
# scenarios each drive kafka-clients against one broker and print what they observed as one
# JSON object. The same scenario runs against Apache Kafka and against strom's server; the two
# objects are compared by the scenario runner (tests/reference.rs).
#
#   client.sh build              build the module (once per version of its sources)
#   client.sh list               print the scenarios' names, one a line (all start with java_)
#   BOOTSTRAP=host:port client.sh run NAME
#                                run one scenario against that broker: one JSON object on
#                                stdout, the client's warnings on stderr; a non-zero exit means
#                                the scenario could not run, never that the broker erred
#
# Environment: KAFKA_CACHE (default target/kafka-reference at the repository's root, as for
# broker.sh), CLIENT_HEAP (default -Xmx256m).
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../../.." && pwd)"
cache="${KAFKA_CACHE:-$root/target/kafka-reference}"
module="$here/client"
# The sources' hash in the folder's name: changed sources are a new build, never a stale one,
# and a machine that built these sources once builds nothing again.
hash="$(cd "$module" && find pom.xml src -type f | LC_ALL=C sort | xargs sha256sum | sha256sum | cut -c1-12)"
build="$cache/client-$hash"

die() {
  echo "client.sh: $*" >&2
  exit 1
}

build() {
  [ -f "$build/built" ] && return 0
  command -v mvn >/dev/null || die "mvn is needed to build the Java scenarios (apt-get install maven)"
  command -v java >/dev/null || die "java (17 or newer) is needed to run the Java scenarios"
  command -v jar >/dev/null || die "jar (from a JDK 17 or newer) is needed to build the Java scenarios"
  mkdir -p "$cache"
  # Runs of the scenarios may start side by side: one builds, the others wait for it.
  exec 9>"$cache/client.lock"
  flock 9
  if [ ! -f "$build/built" ]; then
    rm -rf "$build"
    # Offline first: a machine whose ~/.m2 holds the plugins and jars needs no network.
    local mvn=(mvn -B -q -Dstyle.color=never -f "$module/pom.xml" -Dclient.build="$build" compile)
    "${mvn[@]}" -o >/dev/null 2>&1 || "${mvn[@]}" >&2 ||
      die "building $module with Maven failed (kafka-clients from Maven Central)"
    # One jar rather than a folder of classes: the JVM archives classes (AppCDS) from jars only.
    jar --create --file "$build/scenarios.jar" -C "$build/classes" . ||
      die "packing $build/classes into a jar failed (jar comes with the JDK)"
    touch "$build/built"
  fi
  flock -u 9
}

run() {
  local name="$1"
  [ -n "${BOOTSTRAP:-}" ] || die "BOOTSTRAP (host:port of the broker) is not set"
  build
  # A scenario's JVM lives a few seconds: the C1 compiler only and the serial collector start
  # it faster. The classes a first run loads are archived (AppCDS) beside the build, one archive
  # per Java installation, and mapped by every later run. The archive is written under a name
  # of its own and renamed when whole, so that runs side by side never map a half-written one.
  local archive cds status=0
  archive="$build/scenarios-$(readlink -f "$(command -v java)" | sha256sum | cut -c1-12).jsa"
  if [ -s "$archive" ]; then
    cds="-XX:SharedArchiveFile=$archive"
  else
    cds="-XX:ArchiveClassesAtExit=$archive.$$"
  fi
  java ${CLIENT_HEAP:--Xmx256m} -XX:TieredStopAtLevel=1 -XX:+UseSerialGC "$cds" \
    -Xlog:disable -Xlog:all=error:stderr \
    -Dorg.slf4j.simpleLogger.defaultLogLevel=warn -Dorg.slf4j.simpleLogger.logFile=System.err \
    -cp "$build/scenarios.jar:$build/lib/*" strom.reference.Main run "$name" || status=$?
  if [ -s "$archive.$$" ]; then
    mv -n "$archive.$$" "$archive"
  fi
  rm -f "$archive.$$"
  return $status
}

case "${1:-}" in
build) build ;;
list) build; java -Xshare:auto -XX:TieredStopAtLevel=1 -cp "$build/scenarios.jar:$build/lib/*" strom.reference.Main list ;;
run) [ $# -eq 2 ] || die "usage: BOOTSTRAP=host:port client.sh run NAME"; run "$2" ;;
*) die "usage: client.sh build | list | BOOTSTRAP=host:port client.sh run NAME" ;;
esac
