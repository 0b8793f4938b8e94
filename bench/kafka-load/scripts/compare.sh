#!/usr/bin/env bash
# strom embedded, `strom serve` and Apache Kafka 4.4.0 side by side, in one run: the README's
# table (produce and consume records/s and MB/s, end-to-end p50/p99, time to start, time to
# recover after SIGKILL) and a line per goal, met or not, with its ratio.
#
#   compare.sh [--quick] [--records N] [--samples S] [--partitions P]
#
# Defaults: 2,000,000 records of 100 bytes and 500,000 of 1 KiB per run, 1000 latency samples,
# 4 partitions. --quick: 20,000 and 5,000, 50 samples, and each record size and acks value
# once rather than every pair (the paths proven, the figures meaningless).
#
# Environment: KAFKA_LOAD and STROM (default target/release/kafka-load and strom, built here
# with cargo build --release unless both are given), RDKAFKA_PERF (default
# target/rdkafka-perf, built with cc against Debian's librdkafka-dev unless given),
# KAFKA_HEAP (Kafka's heap, default -Xmx1g); the rest as kafka/tests/reference/broker.sh
# (KAFKA_CACHE, ...).
set -euo pipefail

root="$(cd "$(dirname "$0")/../../.." && pwd)"
target="${CARGO_TARGET_DIR:-$root/target}"
kafka_load="${KAFKA_LOAD:-$target/release/kafka-load}"
strom="${STROM:-$target/release/strom}"
rdkafka="${RDKAFKA_PERF:-$target/rdkafka-perf}"
broker="$root/kafka/tests/reference/broker.sh"
export KAFKA_HEAP="${KAFKA_HEAP:--Xmx1g}"

# Built every time unless given (cargo does nothing when they are current): a binary left
# from an older checkout would run old code, or lack `compare` altogether.
if [ -z "${KAFKA_LOAD:-}" ] || [ -z "${STROM:-}" ]; then
  (cd "$root" && cargo build --release -p strom-cli -p strom-kafka-load)
fi
if [ -z "${RDKAFKA_PERF:-}" ]; then
  cc -O2 -o "$rdkafka" "$root/bench/kafka-load/rdkafka/perf.c" -lrdkafka
fi
"$broker" fetch

exec "$kafka_load" compare --strom "$strom" --rdkafka-perf "$rdkafka" --broker-sh "$broker" \
  --kafka-heap "$KAFKA_HEAP" "$@"
