"""kcat (librdkafka's command-line client), run as a user would: -L metadata (JSON), -P with
per-record keys (-K:) and headers (auto-creating the topic), -C -e from the beginning (JSON
envelope), from an absolute offset, from an offset relative to the end, a count (-c), -Q
offsets by timestamp, compressed produce (-z, every codec), a transactional produce, and a balanced
consumer group (-G) that reads to the end and exits."""

import json
import shutil
import subprocess

from common import base_timestamp, check, check_eq, fail, name, start, step, summary
from confluent_kafka import Producer

bootstrap, _ = start()
KCAT = shutil.which("kcat") or fail("kcat is not installed (Debian: apt-get install kcat)")


def kcat(*args, stdin=None, seconds=30):
    """kcat's stdout; fails on a non-zero exit or after `seconds`."""
    try:
        done = subprocess.run([KCAT, "-b", bootstrap, *args], input=stdin, capture_output=True,
                              timeout=seconds)
    except subprocess.TimeoutExpired:
        fail(f"kcat {' '.join(args)} did not finish within {seconds} s")
    if done.returncode != 0:
        fail(f"kcat {' '.join(args)} exited {done.returncode}: {done.stderr.decode()[-500:]}")
    return done.stdout.decode()


topic = name("kcat")
step("kcat -P with keys and headers")
kcat("-P", "-t", topic, "-K:", "-H", "source=kcat", "-H", "n=1",
     stdin=b"k1:v1\nk2:v2\nk3:v3\nk4:v4\nk5:v5\n")

step("kcat -L")
meta = json.loads(kcat("-L", "-J"))
check_eq([b["name"] for b in meta["brokers"]], [bootstrap], "the brokers kcat -L lists")
broker_id = meta["brokers"][0]["id"]
meta = json.loads(kcat("-L", "-J", "-t", topic))
check_eq([t["topic"] for t in meta["topics"]], [topic], "kcat -L -t: the topic")
[t] = meta["topics"]
check(not t.get("error"), f"kcat -L -t {topic}: error {t.get('error')}")
check_eq([(p["partition"], p["leader"]) for p in t["partitions"]], [(0, broker_id)],
         "the auto-created topic's one partition and its leader")

step("kcat -C -e from the beginning")
lines = [json.loads(line) for line in kcat("-C", "-t", topic, "-e", "-J").splitlines()]
check_eq([(m["partition"], m["offset"], m["key"], m["payload"], m["headers"], m["tstype"])
          for m in lines],
         [(0, i, f"k{i + 1}", f"v{i + 1}", ["source", "kcat", "n", "1"], "create")
          for i in range(5)], "kcat -C -e -J records")
check(all(m["ts"] > 0 for m in lines), "CreateTime timestamps set by kcat")
step("kcat -C -o")
check_eq(kcat("-C", "-t", topic, "-o", "2", "-e", "-f", "%k=%s@%o\n"),
         "k3=v3@2\nk4=v4@3\nk5=v5@4\n", "kcat -C -o 2 -e")
check_eq(kcat("-C", "-t", topic, "-o", "-2", "-e", "-f", "%k=%s@%o\n"),
         "k4=v4@3\nk5=v5@4\n", "kcat -C -o -2 -e (relative to the end)")
check_eq(kcat("-C", "-t", topic, "-o", "beginning", "-c", "1", "-f", "%k=%s@%o\n"),
         "k1=v1@0\n", "kcat -C -c 1")

step("kcat -Q")
timed = name("kcat-times")
base = base_timestamp()
p = Producer({"bootstrap.servers": bootstrap, "linger.ms": 0})
for i in range(5):
    p.produce(timed, value=f"t{i}".encode(), partition=0, timestamp=base + i * 1000)
check_eq(p.flush(30), 0, "records with timestamps unsent")
for ts, want in ((base + 2000, 2), (base + 2500, 3), (base - 1, 0), (base + 9000, -1)):
    out = json.loads(kcat("-Q", "-J", "-t", f"{timed}:0:{ts}"))
    check_eq(out[timed]["0"]["offset"], want, f"kcat -Q at base+{ts - base} ms")
check_eq(kcat("-C", "-t", timed, "-o", f"s@{base + 3000}", "-e", "-f", "%s@%o/%T\n"),
         f"t3@3/{base + 3000}\nt4@4/{base + 4000}\n", "kcat -C -o s@TIMESTAMP")

step("kcat -P -z")
for codec in ("gzip", "snappy", "lz4", "zstd"):
    t_codec = name(f"kcat-{codec}")
    kcat("-P", "-t", t_codec, "-z", codec, stdin=b"".join(b"%s record %d\n" % (codec.encode(), i)
                                                          for i in range(100)))
    got = kcat("-C", "-t", t_codec, "-e", "-f", "%s\n").splitlines()
    check_eq(got, [f"{codec} record {i}" for i in range(100)], f"kcat -z {codec} round trip")

step("kcat -P in a transaction")
t_txn = name("kcat-txn")
kcat("-P", "-t", t_txn, "-X", f"transactional.id={name('kcat-txn-id')}",
     stdin=b"a\nb\nc\n")
check_eq(kcat("-C", "-t", t_txn, "-e", "-X", "isolation.level=read_committed", "-f", "%s@%o\n"),
         "a@0\nb@1\nc@2\n", "kcat's committed transaction read_committed")

step("kcat -G")
got = kcat("-G", name("kcat-group"), "-o", "beginning", "-e", "-f", "%k=%s@%p/%o\n", topic,
           seconds=60)
check_eq(got, "".join(f"k{i + 1}=v{i + 1}@0/{i}\n" for i in range(5)),
         "kcat -G reading the topic to its end")

summary(checked=["-L -J", "-L -t", "-P -K: -H", "-C -e -J", "-C -o N", "-C -o -N", "-c",
                 "-Q", "-C -o s@TS", "-z gzip/snappy/lz4/zstd", "-X transactional.id", "-G"])
