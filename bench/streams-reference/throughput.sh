#!/usr/bin/env bash
# strom::streams beside Kafka Streams 4.4.0, each running the same topologies in its own
# TopologyTestDriver (one record at a time, every update out, no broker), on the same
# generated input of N records per input topic (default 1000000): the word count and the
# tumbling-window count, each run twice on the input with the second run timed (the JVM's
# JIT and strom's allocator warmed up alike). Prints a table of records/s and the ratio.
#
#   bench/streams-reference/throughput.sh [N]
#
# Environment: as kafka/tests/reference/streams/streams.sh (KAFKA_CACHE, STREAMS_HEAP,
# default -Xmx3g here), CARGO_TARGET_DIR.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
n="${1:-1000000}"
topologies=(wordcount tumbling)

cargo build --quiet --release -p strom-streams-reference --manifest-path "$root/Cargo.toml"
bin="${CARGO_TARGET_DIR:-$root/target}/release/streams-reference"
streams="$root/kafka/tests/reference/streams/streams.sh"
"$streams" build >/dev/null

scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
"$bin" generate "$n" 7 "$scratch/input.jsonl" lines events

twice=()
for t in "${topologies[@]}"; do twice+=("$t" "$t"); done
"$bin" time "$scratch/input.jsonl" "${twice[@]}" >"$scratch/strom"
STREAMS_HEAP="${STREAMS_HEAP:--Xmx3g}" "$streams" time "$scratch/input.jsonl" "${twice[@]}" \
  >"$scratch/kafka"

# Each file: one line per run, `name records_in records_out ms`; the last run of a name counts.
awk '
  function rate(count, millis) { return millis > 0 ? count * 1000 / millis : 0 }
  FNR == 1 { side++ }
  { records[$1] = $2; out[side, $1] = $3; ms[side, $1] = $4; if (!($1 in seen)) { seen[$1]; order[++k] = $1 } }
  END {
    printf "| topology | records in | records out | Kafka Streams 4.4.0 | strom | strom / Kafka |\n"
    printf "|---|---:|---:|---:|---:|---:|\n"
    for (i = 1; i <= k; i++) {
      t = order[i]
      if (out[1, t] != out[2, t]) {
        printf("%s: Kafka Streams wrote %d records, strom %d\n", t, out[1, t], out[2, t]) > "/dev/stderr"
        failed = 1
      }
      kafka = rate(records[t], ms[1, t]); strom = rate(records[t], ms[2, t])
      printf "| %s | %d | %d | %.0f records/s | %.0f records/s | %.1f× |\n", t, records[t], out[2, t], kafka, strom, (kafka > 0 ? strom / kafka : 0)
    }
    exit failed
  }' "$scratch/kafka" "$scratch/strom"
