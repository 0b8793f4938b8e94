#!/usr/bin/env bash
# The reference broker: a single-node Apache Kafka (KRaft, broker and controller in one process)
# run from Maven Central's jars, so that the client programs in ../clients can be proven against
# Kafka itself. Where strom and this broker differ for the same program, Kafka is right.
#
#   broker.sh fetch              copy Kafka's jars into the cache (once; nothing is committed)
#   broker.sh start DIR          format DIR, start a broker there, wait until it answers and
#                                print `listening on 127.0.0.1:PORT` (the pid is in DIR/pid)
#   broker.sh stop DIR           stop the broker started in DIR and wait for it to exit
#   broker.sh restart DIR        stop it and start it again on the same data and port
#   broker.sh run CMD ARGS...    start a broker in a scratch directory, run CMD with the
#                                bootstrap address in $BOOTSTRAP, stop the broker, exit as CMD
#   broker.sh tool NAME ARGS...  run one of Kafka's command-line tools from the same jars, as
#                                bin/NAME.sh would (kafka-topics, kafka-configs, ...; or a class)
#   broker.sh lib                print the folder holding the jars (after fetching them)
#
# Environment: KAFKA_VERSION (default 4.4.0), KAFKA_CACHE (default target/kafka-reference at the
# repository's root), KAFKA_HEAP (default -Xmx512m), KAFKA_START_SECONDS (default 120),
# KAFKA_TOOL_HEAP (default -Xmx256m).
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../../.." && pwd)"
version="${KAFKA_VERSION:-4.4.0}"
cache="${KAFKA_CACHE:-$root/target/kafka-reference}"
# The pom's hash in the folder's name: a changed pom is a new set of jars, never a stale cache.
lib="$cache/lib-$version-$(sha256sum "$here/pom.xml" | cut -c1-12)"

die() {
  echo "broker.sh: $*" >&2
  exit 1
}

fetch() {
  # A warm cache costs one test for a directory: no Maven, no network.
  [ -d "$lib" ] && return 0
  command -v mvn >/dev/null || die "mvn is needed to fetch Kafka's jars (apt-get install maven)"
  rm -rf "$lib.partial"
  mvn -B -q -f "$here/pom.xml" -Dkafka.version="$version" dependency:copy-dependencies \
    -DincludeScope=runtime -DoutputDirectory="$lib.partial" >&2 ||
    die "fetching org.apache.kafka:kafka_2.13:$version from Maven Central failed"
  # Whole or not at all: a fetch cut short must not look like a cache.
  mv "$lib.partial" "$lib"
}

# A port nobody listens on now (the kernel's choice for port 0).
free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

java_in() {
  java -Xshare:auto -cp "$lib/*" "$@"
}

start() {
  local dir="$1"
  fetch
  command -v java >/dev/null || die "java (17 or newer) is needed to run Kafka"
  command -v kcat >/dev/null || die "kcat is needed to see the broker answer (apt-get install kcat)"
  mkdir -p "$dir"
  dir="$(cd "$dir" && pwd)"
  [ -f "$dir/pid" ] && kill -0 "$(cat "$dir/pid")" 2>/dev/null && die "a broker already runs in $dir"
  local port controller cluster
  port="$(free_port)"
  controller="$(free_port)"
  while [ "$controller" = "$port" ]; do controller="$(free_port)"; done
  # Kafka's cluster ids are 16 random bytes in URL-safe base64 without padding.
  cluster="$(python3 -c 'import base64, os; print(base64.urlsafe_b64encode(os.urandom(16)).decode().rstrip("="))')"
  rm -rf "$dir/data"
  cat >"$dir/server.properties" <<EOF
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$controller
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$controller
advertised.listeners=PLAINTEXT://127.0.0.1:$port
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$dir/data
num.partitions=1
auto.create.topics.enable=true
offsets.topic.replication.factor=1
offsets.topic.num.partitions=1
transaction.state.log.num.partitions=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
EOF
  java_in kafka.tools.StorageTool format -t "$cluster" -c "$dir/server.properties" \
    >"$dir/format.log" 2>&1 || { cat "$dir/format.log" >&2; die "formatting $dir/data failed"; }
  echo "127.0.0.1:$port" >"$dir/bootstrap"
  launch "$dir"
}

# Starts the broker configured in DIR and waits until it answers.
launch() {
  local dir="$1" port
  port="$(cut -d: -f2 "$dir/bootstrap")"
  # setsid: the broker is its own process group, so stop can end it and only it.
  KAFKA_HEAP="${KAFKA_HEAP:--Xmx512m}"
  setsid java $KAFKA_HEAP -Xshare:auto -Dorg.slf4j.simpleLogger.defaultLogLevel=info \
    -cp "$lib/*" kafka.Kafka "$dir/server.properties" >>"$dir/broker.log" 2>&1 </dev/null &
  echo $! >"$dir/pid"
  # Answering = a metadata request served on the client listener, within the deadline.
  local deadline=$((SECONDS + ${KAFKA_START_SECONDS:-120}))
  until kcat -L -b "127.0.0.1:$port" -m 2 >/dev/null 2>&1; do
    if ! kill -0 "$(cat "$dir/pid")" 2>/dev/null; then
      tail -40 "$dir/broker.log" >&2
      die "the broker in $dir exited before it answered"
    fi
    if [ $SECONDS -ge $deadline ]; then
      tail -40 "$dir/broker.log" >&2
      stop "$dir"
      die "the broker in $dir did not answer within ${KAFKA_START_SECONDS:-120} s"
    fi
    sleep 0.5
  done
  echo "listening on 127.0.0.1:$port"
}

stop() {
  local dir="$1" pid
  [ -f "$dir/pid" ] || return 0
  pid="$(cat "$dir/pid")"
  if kill -0 "$pid" 2>/dev/null; then
    # SIGTERM runs Kafka's controlled shutdown; a broker still alive after the deadline is
    # killed so that a test run always ends.
    kill -TERM "$pid" 2>/dev/null || true
    local deadline=$((SECONDS + 60))
    while kill -0 "$pid" 2>/dev/null && [ $SECONDS -lt $deadline ]; do sleep 0.2; done
    if kill -0 "$pid" 2>/dev/null; then
      echo "broker.sh: the broker in $dir ignored SIGTERM for 60 s; killing it" >&2
      kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
    fi
  fi
  rm -f "$dir/pid"
}

run() {
  local dir status
  dir="$(mktemp -d "${TMPDIR:-/tmp}/kafka-reference.XXXXXX")"
  trap 'stop "$dir"' EXIT
  start "$dir" >&2
  status=0
  BOOTSTRAP="$(cat "$dir/bootstrap")" "$@" || status=$?
  stop "$dir"
  trap - EXIT
  rm -rf "$dir"
  return $status
}

# The class behind each of the distribution's bin/*.sh scripts (Kafka 4.x).
tool_class() {
  case "$1" in
  kafka-topics) echo org.apache.kafka.tools.TopicCommand ;;
  kafka-configs) echo org.apache.kafka.tools.ConfigCommand ;;
  kafka-console-producer) echo org.apache.kafka.tools.ConsoleProducer ;;
  kafka-console-consumer) echo org.apache.kafka.tools.consumer.ConsoleConsumer ;;
  kafka-consumer-groups) echo org.apache.kafka.tools.consumer.group.ConsumerGroupCommand ;;
  kafka-get-offsets) echo org.apache.kafka.tools.GetOffsetShell ;;
  kafka-producer-perf-test) echo org.apache.kafka.tools.ProducerPerformance ;;
  kafka-consumer-perf-test) echo org.apache.kafka.tools.ConsumerPerformance ;;
  kafka-transactions) echo org.apache.kafka.tools.TransactionsCommand ;;
  kafka-delete-records) echo org.apache.kafka.tools.DeleteRecordsCommand ;;
  kafka-cluster) echo org.apache.kafka.tools.ClusterTool ;;
  kafka-features) echo org.apache.kafka.tools.FeatureCommand ;;
  kafka-broker-api-versions) echo org.apache.kafka.tools.BrokerApiVersionsCommand ;;
  kafka-leader-election) echo org.apache.kafka.tools.LeaderElectionCommand ;;
  kafka-log-dirs) echo org.apache.kafka.tools.LogDirsCommand ;;
  kafka-verifiable-producer) echo org.apache.kafka.tools.VerifiableProducer ;;
  kafka-verifiable-consumer) echo org.apache.kafka.tools.VerifiableConsumer ;;
  *.*) echo "$1" ;;
  *) die "unknown tool $1 (a bin/*.sh name such as kafka-topics, or a class name)" ;;
  esac
}

tool() {
  local class
  class="$(tool_class "$1")"
  shift
  fetch
  command -v java >/dev/null || die "java (17 or newer) is needed to run Kafka's tools"
  # A tool is short-lived: a small heap, the C1 compiler only (starts faster, as the tools
  # never run long enough for C2 to pay off), and only warnings logged, to stderr (the JVM's
  # own too: stdout is the tool's output).
  # The classes the first tool run loads are archived (AppCDS) beside the jars, one archive
  # per Java installation, and mapped by every later run: it halves a tool's start (0.77 s to
  # 0.43 s for kafka-topics --list here). An archive being written, or from another JVM, is
  # refused by the JVM, which then runs without it.
  local archive cds
  archive="$lib/tools-$(readlink -f "$(command -v java)" | sha256sum | cut -c1-12).jsa"
  if [ -s "$archive" ]; then
    cds="-XX:SharedArchiveFile=$archive"
  else
    cds="-XX:ArchiveClassesAtExit=$archive"
  fi
  exec java ${KAFKA_TOOL_HEAP:--Xmx256m} -XX:TieredStopAtLevel=1 -XX:+UseSerialGC "$cds" \
    -Xlog:disable -Xlog:all=warning:stderr \
    -Dorg.slf4j.simpleLogger.defaultLogLevel=warn -Dorg.slf4j.simpleLogger.logFile=System.err \
    -cp "$lib/*" "$class" "$@"
}

case "${1:-}" in
fetch) fetch ;;
start) [ $# -eq 2 ] || die "usage: broker.sh start DIR"; start "$2" ;;
stop) [ $# -eq 2 ] || die "usage: broker.sh stop DIR"; stop "$2" ;;
restart)
  [ $# -eq 2 ] && [ -f "$2/server.properties" ] || die "usage: broker.sh restart DIR (started)"
  stop "$2"
  launch "$(cd "$2" && pwd)"
  ;;
run) shift; [ $# -ge 1 ] || die "usage: broker.sh run CMD ARGS..."; run "$@" ;;
tool) shift; [ $# -ge 1 ] || die "usage: broker.sh tool NAME ARGS..."; tool "$@" ;;
lib) fetch; echo "$lib" ;;
*) die "usage: broker.sh fetch | lib | start DIR | stop DIR | restart DIR | run CMD ARGS... | tool NAME ARGS..." ;;
esac
