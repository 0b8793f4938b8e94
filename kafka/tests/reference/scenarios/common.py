"""What the differential scenarios share (kafka/tests/reference.rs runs them).

A scenario reads the broker's address from $BOOTSTRAP, works with a real client and prints ONE
JSON object: what it observed. Errors the client sees are observations (their Kafka names, such
as "TOPIC_ALREADY_EXISTS"); a non-zero exit means the scenario itself is broken. Every topic a
scenario makes starts with its name (NAME), so all scenarios share one broker.

Besides the clients' helpers this holds a small raw Kafka-protocol client (`Connection`) and a
v2 record-batch encoder, for what no client lets a scenario do: send the same batch twice, skip
a sequence number, send frames no client would.
"""

import json
import os
import signal
import socket
import struct
import sys
import time

from kafka.record.util import calc_crc32c, encode_varint

NAME = os.path.splitext(os.path.basename(sys.argv[0]))[0]
BOOTSTRAP = os.environ.get("BOOTSTRAP", "")
# A broken scenario must end before the runner's own deadline, saying where it hung.
DEADLINE_SECONDS = 90
_step = ["starting"]


def step(what):
    """Names what the scenario is doing, so that its deadline says where it hung."""
    _step[0] = what


def _timed_out(_signum, _frame):
    print(f"{NAME}: no result within {DEADLINE_SECONDS} s (while: {_step[0]})", file=sys.stderr,
          flush=True)
    os._exit(3)


if not BOOTSTRAP:
    print(f"{NAME}: BOOTSTRAP (host:port) must be set", file=sys.stderr)
    sys.exit(2)
signal.signal(signal.SIGALRM, _timed_out)
signal.alarm(DEADLINE_SECONDS)


# The config of a topic whose records carry fixed timestamps from years ago: kept whatever their
# age (Kafka's retention check, 30 s after it starts, would delete them otherwise).
KEEP = {"retention.ms": "-1"}


def topic(suffix=""):
    """A name of this scenario's own: NAME or NAME-suffix."""
    return f"{NAME}-{suffix}" if suffix else NAME


def emit(observed):
    """Prints the observations and ends the scenario (client threads are not waited for)."""
    sys.stdout.write(json.dumps(observed, sort_keys=True) + "\n")
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def error_name(exc):
    """The Kafka name of a client's error: kafka-python's `message`, confluent's `name()`."""
    from confluent_kafka import KafkaError, KafkaException

    if isinstance(exc, KafkaException) and exc.args and isinstance(exc.args[0], KafkaError):
        return exc.args[0].name()
    if isinstance(exc, KafkaError):
        return exc.name()
    message = getattr(exc, "message", None)
    if isinstance(message, str) and message.isupper():
        return message
    return type(exc).__name__


def confluent_admin():
    from confluent_kafka.admin import AdminClient

    return AdminClient({"bootstrap.servers": BOOTSTRAP})


def create_topics(specs, **options):
    """Creates topics with confluent's admin client; {name: error name or None}.

    specs: [(name, partitions, {config: value})].
    """
    from confluent_kafka.admin import NewTopic

    admin = confluent_admin()
    new = [NewTopic(name, num_partitions=p, replication_factor=1, config=c or {})
           for name, p, c in specs]
    out = {}
    for name, future in admin.create_topics(new, operation_timeout=30, **options).items():
        try:
            future.result(timeout=60)
            out[name] = None
        except Exception as e:  # the error is the observation
            out[name] = error_name(e)
    return out


def wait_for_topic(name, partitions=None, present=True):
    """Until metadata shows `name` (with `partitions` partitions, each led), or no longer shows
    it: Kafka may answer CreateTopics before its metadata has the topic."""
    admin = confluent_admin()
    for _ in range(600):
        md = admin.list_topics(timeout=10).topics
        t = md.get(name)
        if not present:
            if t is None:
                return
        elif t is not None and t.error is None and (
                partitions is None or (len(t.partitions) == partitions and
                                       all(p.leader >= 0 for p in t.partitions.values()))):
            return
        time.sleep(0.05)
    raise RuntimeError(f"topic {name} never {'appeared' if present else 'went away'}")


def producer(**config):
    from confluent_kafka import Producer

    return Producer({"bootstrap.servers": BOOTSTRAP, **config})


def produce_all(p, topic_name, records):
    """Produces [(key, value, partition, headers, timestamp)] and waits for every delivery;
    [(partition, offset) or error name] in order."""
    results = [None] * len(records)

    def report(i):
        def callback(err, msg):
            results[i] = err.name() if err else [msg.partition(), msg.offset()]
        return callback

    for i, (key, value, partition, headers, ts) in enumerate(records):
        kwargs = {}
        if partition is not None:
            kwargs["partition"] = partition
        if headers is not None:
            kwargs["headers"] = headers
        if ts is not None:
            kwargs["timestamp"] = ts
        p.produce(topic_name, key=key, value=value, on_delivery=report(i), **kwargs)
    p.flush(60)
    return results


def read_back(topic_name, partition, start, count, **config):
    """`count` records of one partition from `start`, read by a confluent consumer; each as a
    dict of what the broker stored (timestamps only where the producer set them)."""
    from confluent_kafka import Consumer, TopicPartition

    c = Consumer({"bootstrap.servers": BOOTSTRAP, "group.id": topic("reader"),
                  "enable.auto.commit": False, **config})
    c.assign([TopicPartition(topic_name, partition, start)])
    out = []
    for _ in range(600):
        if len(out) >= count:
            break
        msg = c.poll(0.1)
        if msg is None:
            continue
        if msg.error():
            out.append({"error": msg.error().name()})
            continue
        out.append(record_of(msg))
    c.close()
    return out


def record_of(msg):
    """A confluent message as observations."""
    ts_type, ts = msg.timestamp()
    return {
        "offset": msg.offset(),
        "partition": msg.partition(),
        "key": None if msg.key() is None else msg.key().decode("utf-8", "replace"),
        "value": None if msg.value() is None else msg.value().decode("utf-8", "replace"),
        "headers": [[k, None if v is None else v.decode("utf-8", "replace")]
                    for k, v in (msg.headers() or [])],
        "timestamp_type": ts_type,
        "timestamp": ts,
    }


# --- the raw protocol -------------------------------------------------------------------------

def i8(v):
    return struct.pack(">b", v)


def i16(v):
    return struct.pack(">h", v)


def i32(v):
    return struct.pack(">i", v)


def i64(v):
    return struct.pack(">q", v)


def string(s):
    if s is None:
        return i16(-1)
    b = s.encode()
    return i16(len(b)) + b


def array(items):
    return i32(len(items)) + b"".join(items)


def nbytes(b):
    return i32(-1) if b is None else i32(len(b)) + b


def varint(v):
    out = bytearray()
    encode_varint(v, out.append)
    return bytes(out)


class Reader:
    """Reads a response body field by field."""

    def __init__(self, data):
        self.data, self.pos = data, 0

    def take(self, fmt):
        v = struct.unpack_from(fmt, self.data, self.pos)[0]
        self.pos += struct.calcsize(fmt)
        return v

    def i8(self):
        return self.take(">b")

    def i16(self):
        return self.take(">h")

    def i32(self):
        return self.take(">i")

    def i64(self):
        return self.take(">q")

    def string(self):
        n = self.i16()
        if n < 0:
            return None
        s = self.data[self.pos:self.pos + n].decode()
        self.pos += n
        return s

    def bytes(self):
        n = self.i32()
        if n < 0:
            return None
        b = self.data[self.pos:self.pos + n]
        self.pos += n
        return b

    def array(self, item):
        n = self.i32()
        return [] if n < 0 else [item(self) for _ in range(n)]


class Connection:
    """One connection to the broker; requests with header v1, answers with header v0."""

    def __init__(self, timeout=30):
        host, port = BOOTSTRAP.rsplit(":", 1)
        self.sock = socket.create_connection((host, int(port)), timeout=timeout)
        self.correlation = 0

    def send_frame(self, frame):
        self.sock.sendall(frame)

    def send(self, api_key, version, body):
        self.correlation += 1
        header = i16(api_key) + i16(version) + i32(self.correlation) + string(NAME)
        payload = header + body
        self.sock.sendall(i32(len(payload)) + payload)
        return self.correlation

    def receive(self):
        """The next answer's body, or "closed" if the broker closed the connection, or
        "no answer" if it said nothing within the socket's timeout."""
        try:
            size = self._exactly(4)
            if size is None:
                return "closed"
            body = self._exactly(struct.unpack(">i", size)[0])
            if body is None:
                return "closed"
            return body[4:]  # the correlation id
        except socket.timeout:
            return "no answer"
        except (ConnectionResetError, BrokenPipeError):
            return "closed"

    def _exactly(self, n):
        buf = bytearray()
        while len(buf) < n:
            chunk = self.sock.recv(n - len(buf))
            if not chunk:
                return None
            buf += chunk
        return bytes(buf)

    def call(self, api_key, version, body):
        self.send(api_key, version, body)
        return self.receive()

    def close(self):
        self.sock.close()


def record_batch(records, base_offset=0, producer_id=-1, producer_epoch=-1, base_sequence=-1,
                 base_timestamp=0, attributes=0):
    """A v2 record batch of [(key, value)] (bytes or None), timestamps base_timestamp + i."""
    body = bytearray()
    for i, (key, value) in enumerate(records):
        rec = bytearray()
        rec += i8(0)
        rec += varint(i)  # timestamp delta
        rec += varint(i)  # offset delta
        for field in (key, value):
            if field is None:
                rec += varint(-1)
            else:
                rec += varint(len(field)) + field
        rec += varint(0)  # headers
        body += varint(len(rec)) + rec
    n = len(records)
    after_crc = (i16(attributes) + i32(n - 1) + i64(base_timestamp) +
                 i64(base_timestamp + n - 1) + i64(producer_id) + i16(producer_epoch) +
                 i32(base_sequence) + i32(n) + bytes(body))
    crc = calc_crc32c(after_crc)
    after_length = i32(0) + i8(2) + struct.pack(">I", crc) + after_crc
    return i64(base_offset) + i32(len(after_length)) + after_length


def produce_v7(conn, topic_name, partition, batch, acks=-1, transactional_id=None):
    """One Produce v7 of `batch`; (error code, base offset)."""
    body = (string(transactional_id) + i16(acks) + i32(30000) +
            array([string(topic_name) + array([i32(partition) + nbytes(batch)])]))
    answer = conn.call(0, 7, body)
    if isinstance(answer, str):
        return answer
    r = Reader(answer)
    topics = r.array(lambda r: (r.string(), r.array(
        lambda r: (r.i32(), r.i16(), r.i64(), r.i64(), r.i64()))))
    _, partitions = topics[0]
    _, error, base_offset, _, _ = partitions[0]
    return [error, base_offset]


def fetch_v4(conn, topic_name, partition, offset, max_wait_ms=0, min_bytes=0,
             max_bytes=1 << 20, partition_max_bytes=1 << 20):
    """One Fetch v4; (error code, high watermark, records bytes or None)."""
    body = (i32(-1) + i32(max_wait_ms) + i32(min_bytes) + i32(max_bytes) + i8(0) +
            array([string(topic_name) + array([i32(partition) + i64(offset) +
                                               i32(partition_max_bytes)])]))
    conn.send(1, 4, body)
    return parse_fetch_v4(conn.receive())


def parse_fetch_v4(answer):
    if isinstance(answer, str):
        return answer
    r = Reader(answer)
    r.i32()
    topics = r.array(lambda r: (r.string(), r.array(
        lambda r: (r.i32(), r.i16(), r.i64(), r.i64(),
                   r.array(lambda r: (r.i64(), r.i64())), r.bytes()))))
    _, error, high_watermark, _, _, records = topics[0][1][0]
    return error, high_watermark, records


def size(records):
    """The length of a fetched record set, or "null" for a null one (Kafka never sends one:
    an answer without records has an empty set)."""
    return "null" if records is None else len(records)


def batches_in(records):
    """[(base offset, record count, byte length)] of the whole batches in fetched bytes."""
    out, pos = [], 0
    records = records or b""
    while pos + 61 <= len(records):
        base, length = struct.unpack_from(">qi", records, pos)
        if pos + 12 + length > len(records):
            break
        count = struct.unpack_from(">i", records, pos + 57)[0]
        out.append([base, count, 12 + length])
        pos += 12 + length
    return out


def init_producer_id(conn, transactional_id=None):
    """InitProducerId v1; (error code, producer id, epoch)."""
    answer = conn.call(22, 1, string(transactional_id) + i32(60000))
    r = Reader(answer)
    r.i32()
    return r.i16(), r.i64(), r.i16()


ERRORS = {2: "CORRUPT_MESSAGE", 21: "INVALID_REQUIRED_ACKS", 32: "INVALID_TIMESTAMP",
          43: "UNSUPPORTED_FOR_MESSAGE_FORMAT", 0: "NONE", 1: "OFFSET_OUT_OF_RANGE", 3: "UNKNOWN_TOPIC_OR_PARTITION",
          10: "MESSAGE_TOO_LARGE", 18: "RECORD_LIST_TOO_LARGE", 35: "UNSUPPORTED_VERSION",
          36: "TOPIC_ALREADY_EXISTS", 37: "INVALID_PARTITIONS", 42: "INVALID_REQUEST",
          45: "OUT_OF_ORDER_SEQUENCE_NUMBER", 46: "DUPLICATE_SEQUENCE_NUMBER",
          47: "INVALID_PRODUCER_EPOCH", 17: "INVALID_TOPIC_EXCEPTION", 87: "INVALID_RECORD",
          59: "UNKNOWN_PRODUCER_ID", 5: "LEADER_NOT_AVAILABLE"}


def error_code_name(code):
    return ERRORS.get(code, f"error {code}")
