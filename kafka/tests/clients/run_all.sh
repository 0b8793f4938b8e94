#!/usr/bin/env bash
# Runs every client program against a Kafka-protocol broker and reports each one's result.
#
#   run_all.sh [BOOTSTRAP] [PROGRAM...]     (or BOOTSTRAP in the environment)
#
# Each program runs with a fresh name prefix (so a broker can be reused), a whole-program
# deadline and its output kept in $LOGS (default a scratch directory). The Python clients run
# from a virtual environment with requirements.txt's pinned versions: $PYTHON if set, else one
# made (once) under target/kafka-clients-venv at the repository's root. Exits 0 only if every
# program passed; the last line is `N passed, N failed`.
set -uo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../../.." && pwd)"
bootstrap="${1:-${BOOTSTRAP:-}}"
[ -n "$bootstrap" ] || { echo "usage: run_all.sh BOOTSTRAP [PROGRAM...]" >&2; exit 2; }
shift || true

all=(produce_consume_kafka_python produce_consume_confluent compressed_records groups_kafka_python
  groups_confluent offsets_for_times offset_metadata idempotent_producers transactions_confluent
  transactions_kafka_python group_two_members admin admin_configs kcat weather)
programs=("${@:-${all[@]}}")

if [ -z "${PYTHON:-}" ]; then
  venv="$root/target/kafka-clients-venv"
  if ! "$venv/bin/python" -c 'import kafka, confluent_kafka, lz4, snappy, zstandard' 2>/dev/null ||
    ! cmp -s "$here/requirements.txt" "$venv/requirements.txt"; then
    rm -rf "$venv"
    python3 -m venv "$venv" || { echo "python3 -m venv failed (apt-get install python3-venv)" >&2; exit 1; }
    "$venv/bin/pip" install --quiet -r "$here/requirements.txt" || exit 1
    cp "$here/requirements.txt" "$venv/requirements.txt"
  fi
  PYTHON="$venv/bin/python"
fi
logs="${LOGS:-$(mktemp -d "${TMPDIR:-/tmp}/kafka-clients.XXXXXX")}"
mkdir -p "$logs"
run_prefix="r$(date +%s)$$"
export PYTHONDONTWRITEBYTECODE=1
export PROGRAM_TIMEOUT="${PROGRAM_TIMEOUT:-150}"

echo "clients: $("$PYTHON" -c 'import kafka, confluent_kafka as c; print("kafka-python", kafka.__version__, "| confluent-kafka", c.version(), "librdkafka", c.libversion()[0])') | kcat $(kcat -V 2>&1 | sed -n 's/^Version \([^ ]*\).*/\1/p')"
echo "broker: $bootstrap; logs: $logs"
passed=0
failed=0
failures=()
for program in "${programs[@]}"; do
  start=$SECONDS
  # timeout: a backstop beyond the program's own deadline, for a client stuck in C code.
  timeout -k 5 $((PROGRAM_TIMEOUT + 30)) "$PYTHON" "$here/$program.py" "$bootstrap" \
    "$run_prefix" >"$logs/$program.out" 2>"$logs/$program.err"
  status=$?
  took=$((SECONDS - start))
  if [ $status -eq 0 ]; then
    passed=$((passed + 1))
    echo "PASS $program (${took}s) $(tail -1 "$logs/$program.out")"
  else
    failed=$((failed + 1))
    failures+=("$program")
    echo "FAIL $program (${took}s, exit $status) $(grep -m1 '^FAIL' "$logs/$program.err" || tail -3 "$logs/$program.err")"
  fi
done
[ $failed -eq 0 ] || echo "failed: ${failures[*]} (output in $logs)"
echo "$passed passed, $failed failed"
[ $failed -eq 0 ]
