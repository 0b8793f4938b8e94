#!/usr/bin/env bash
# The mirror's throughput into Apache Kafka beside what the same Kafka takes from its own
# producer and from librdkafka alone: a single-node Kafka 4.4.0 started by
# kafka/tests/reference/broker.sh, then, one after the other into topics of 4 partitions,
#
#   1. kafka-producer-perf-test (Kafka's Java producer): N records of 100 bytes, acks=all,
#      its default linger and batch size, as fast as it goes (--throughput -1);
#   2. kafka-load mirror --bootstrap: rdkafka-produce (librdkafka alone: idempotent,
#      acks=all, N keyed records of 100 bytes), then strom_kafka::Mirror copying the same
#      N records from a strom directory, the copy counted exactly.
#
#   mirror-kafka.sh [N]     (N defaults to 2000000)
#
# Environment: KAFKA_LOAD (default target/release/kafka-load) and RDKAFKA_PRODUCE (default
# target/rdkafka-produce), each built here if missing (cargo build --release; cc against
# Debian's librdkafka-dev); KAFKA_HEAP (default -Xmx1g here); the rest as broker.sh.
set -euo pipefail

root="$(cd "$(dirname "$0")/../../.." && pwd)"
records="${1:-2000000}"
target="${CARGO_TARGET_DIR:-$root/target}"
kafka_load="${KAFKA_LOAD:-$target/release/kafka-load}"
rdkafka="${RDKAFKA_PRODUCE:-$target/rdkafka-produce}"
broker="$root/kafka/tests/reference/broker.sh"
export KAFKA_HEAP="${KAFKA_HEAP:--Xmx1g}"

if [ ! -x "$kafka_load" ]; then
  (cd "$root" && cargo build --release -p strom-kafka-load)
fi
if [ ! -x "$rdkafka" ]; then
  cc -O2 -o "$rdkafka" "$root/bench/kafka-load/rdkafka/produce.c" -lrdkafka
fi

work="$(mktemp -d "${TMPDIR:-/tmp}/mirror-kafka.XXXXXX")"
trap '"$broker" stop "$work/kafka"; rm -rf "$work"' EXIT
"$broker" start "$work/kafka" >&2
bootstrap="$(cat "$work/kafka/bootstrap")"

# Kafka's own producer. Its last line: "N records sent, R records/sec (M MB/sec), ...".
"$broker" tool kafka-topics --bootstrap-server "$bootstrap" --create --topic perf-test \
  --partitions 4 >/dev/null
"$broker" tool kafka-producer-perf-test --topic perf-test --num-records "$records" \
  --record-size 100 --throughput -1 \
  --producer-props "bootstrap.servers=$bootstrap" acks=all >"$work/perf" 2>"$work/perf.err" || {
  cat "$work/perf" "$work/perf.err" >&2
  exit 1
}
# The tool prints progress lines every 5 s, then the summary.
summary="$(grep ' records sent, ' "$work/perf" | tail -1)"
sent="$(sed -n 's/^\([0-9]*\) records sent.*/\1/p' <<<"$summary")"
[ "$sent" = "$records" ] || {
  echo "mirror-kafka.sh: kafka-producer-perf-test sent '$sent' of $records: $summary" >&2
  exit 1
}
# In kafka-load's units: its MB are 10^6 bytes of values (the tool's are 2^20).
perf_rate="$(sed -n 's/.* records sent, \([0-9.]*\) records\/sec.*/\1/p' <<<"$summary" |
  awk '{ if ($1 >= 1e6) r = sprintf("%.2f M", $1 / 1e6); else r = sprintf("%.0f k", $1 / 1e3);
         printf "%s records/s, %.0f MB/s of values", r, $1 * 100 / 1e6 }')"

# librdkafka alone, then the mirror: kafka-load prints its own rows.
"$kafka_load" mirror --bootstrap "$bootstrap" --records "$records" --rdkafka "$rdkafka" \
  >"$work/load"

echo "Apache Kafka 4.4.0 (single node, $KAFKA_HEAP) at $bootstrap: $records records of 100 bytes, 4 partitions"
echo "| workload | result |"
echo "|----------|--------|"
echo "| kafka-producer-perf-test: acks=all, default linger and batch size | $perf_rate |"
grep '^| ' "$work/load" | grep -v '^| workload' | sed 's/  *|/ |/g'
