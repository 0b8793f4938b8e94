#!/usr/bin/env bash
# kcat (librdkafka) throughput beside kafka-load's: N records of 100 bytes produced from a
# file with `kcat -P -l`, then read back from the beginning to the end with `kcat -C -e`,
# the count checked to be exactly N.
#
#   kcat-load.sh HOST:PORT [N]     (N defaults to 1000000)
#
# The broker must create the topic on first use (strom serve and Kafka's defaults do).
set -euo pipefail

bootstrap="${1:?usage: kcat-load.sh HOST:PORT [N]}"
records="${2:-1000000}"
topic="kcat-load-$$-$(date +%s)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# 100 characters and the newline kcat splits records on (and drops): 100-byte values, and
# one line per record when read back.
python3 -c "
import sys
line = b'x' * 100 + b'\n'
sys.stdout.buffer.write(line * $records)
" >"$work/records"

now() { date +%s.%N; }

# linger and batch size as kafka-load's ~16 KiB batches; acks=1 as kafka-load.
start="$(now)"
kcat -P -b "$bootstrap" -t "$topic" -l -X linger.ms=5 -X batch.size=16384 \
  -X acks=1 -X queue.buffering.max.messages=1000000 "$work/records"
produced="$(now)"
count="$(kcat -C -b "$bootstrap" -t "$topic" -o beginning -e -q -X fetch.max.bytes=8388608 | wc -l)"
fetched="$(now)"

[ "$count" -eq "$records" ] || {
  echo "kcat-load.sh: read $count records of $topic, $records were produced" >&2
  exit 1
}
python3 -c "
n = $records
p = $produced - $start
f = $fetched - $produced
print(f'| kcat produce (-P -l, linger 5 ms, 16 KiB batches, acks=1) | {n / p / 1e6:.2f} M records/s |')
print(f'| kcat consume (-C -e from the beginning, counted)           | {n / f / 1e6:.2f} M records/s |')
"
