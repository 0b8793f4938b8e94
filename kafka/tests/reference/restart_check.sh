#!/usr/bin/env bash
# ../clients/restart_resume.py against Apache Kafka: its `before` run, a restart of the broker
# on the same data and port, then its `after` run. Exits as the first failure, 0 if both pass.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../../.." && pwd)"
python="${PYTHON:-$root/target/kafka-clients-venv/bin/python}"
dir="$(mktemp -d "${TMPDIR:-/tmp}/kafka-reference.XXXXXX")"
trap '"$here/broker.sh" stop "$dir"; rm -rf "$dir"' EXIT
"$here/broker.sh" start "$dir" >&2
prefix="restart$(date +%s)"
"$python" "$here/../clients/restart_resume.py" "$(cat "$dir/bootstrap")" "$prefix" before
"$here/broker.sh" restart "$dir" >&2
"$python" "$here/../clients/restart_resume.py" "$(cat "$dir/bootstrap")" "$prefix" after
