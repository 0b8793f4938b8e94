"""What every client program shares: the bootstrap address, unique names, a deadline for the
whole program, checks that fail with a clear message, and the one-line JSON summary.

Each program is run as `python PROGRAM.py BOOTSTRAP [PREFIX]` (or with BOOTSTRAP and PREFIX in
the environment). It exits 0 only if every check held; any difference from what Apache Kafka
does is printed on stderr as `FAIL <program>: <what>` and exits 1.
"""

import json
import os
import signal
import sys
import threading
import time
import uuid

PROGRAM = os.path.splitext(os.path.basename(sys.argv[0]))[0]
_step = ["starting"]


def bootstrap():
    """The broker's address, from argv[1] or $BOOTSTRAP."""
    if len(sys.argv) > 1 and sys.argv[1]:
        return sys.argv[1]
    if os.environ.get("BOOTSTRAP"):
        return os.environ["BOOTSTRAP"]
    print(f"usage: {sys.argv[0]} BOOTSTRAP [PREFIX]  (or BOOTSTRAP in the environment)",
          file=sys.stderr)
    sys.exit(2)


def prefix():
    """A prefix for this run's topic, group and transactional-id names: argv[2], $PREFIX, or a
    random one, so that runs against one broker never see each other's records."""
    if len(sys.argv) > 2 and sys.argv[2]:
        return sys.argv[2]
    return os.environ.get("PREFIX") or f"t{uuid.uuid4().hex[:10]}"


def name(kind):
    """A name unique to this run and program: PREFIX-PROGRAM-KIND."""
    return f"{PREFIX}-{PROGRAM}-{kind}"


def step(what):
    """Names what the program is doing, so that a timeout says where it hung."""
    _step[0] = what


def fail(message):
    print(f"FAIL {PROGRAM}: {message} (while: {_step[0]})", file=sys.stderr, flush=True)
    # os._exit: client libraries keep non-daemon threads that could keep a failed run alive.
    os._exit(1)


def check(condition, message):
    if not condition:
        fail(message)


def check_eq(actual, expected, what):
    if actual != expected:
        fail(f"{what}: expected {expected!r}, got {actual!r}")


def _timed_out(_signum, _frame):
    fail(f"no result within the program's deadline of {TIMEOUT} s")


TIMEOUT = int(os.environ.get("PROGRAM_TIMEOUT", "150"))


def _uncaught(kind, value, tb):
    import traceback
    traceback.print_exception(kind, value, tb)
    fail(f"{kind.__name__}: {value}")


def start():
    """Arms the whole-program deadline; returns (bootstrap, prefix). A client's exception that
    no check caught fails the program too, with its type and message."""
    sys.excepthook = _uncaught
    signal.signal(signal.SIGALRM, _timed_out)
    signal.alarm(TIMEOUT)
    return BOOTSTRAP, PREFIX


class Deadline:
    """A bound on one wait: `while d.left(): ...` then `d.expired(what)` fails with `what`."""

    def __init__(self, seconds):
        self.end = time.monotonic() + seconds
        self.seconds = seconds

    def left(self):
        return max(0.0, self.end - time.monotonic())

    def expired(self, what):
        fail(f"{what} not within {self.seconds} s")


def wait_until(predicate, seconds, what, interval=0.05):
    """Polls `predicate` until it returns a true value (returned) or the deadline passes."""
    d = Deadline(seconds)
    while True:
        value = predicate()
        if value:
            return value
        if not d.left():
            d.expired(what)
        time.sleep(interval)


def summary(**checked):
    """The program's one line of JSON on stdout: what it checked, and that it passed."""
    line = {"program": PROGRAM, "ok": True, "bootstrap": BOOTSTRAP}
    line.update(checked)
    print(json.dumps(line, sort_keys=True), flush=True)
    os._exit(0)


def base_timestamp():
    """A CreateTime base in whole seconds an hour ago: in the past, as Kafka accepts any past
    timestamp but rejects ones more than an hour ahead (log.message.timestamp.after.max.ms)."""
    return (int(time.time()) - 3600) * 1000


BOOTSTRAP = bootstrap()
PREFIX = prefix()
lock = threading.Lock()
