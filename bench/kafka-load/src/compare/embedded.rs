//! The embedded rows: strom's own API in this process.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use strom::{Broker, ConsumerConfig, OffsetReset, Producer, Record, TopicConfig, TopicPartition};

use super::{
    dir_bytes, own_cpu, percentiles, Latency, Rate, Row, Settings, Startup, EMBEDDED,
    EMBEDDED_BATCH, EMBEDDED_POLL, SIZES,
};
use crate::{Failed, Result};

/// `kafka-load compare-writer DIR RECORDS`: the embedded row's victim, killed by its parent
/// once it has appended RECORDS 100-byte records to topic `crash` of DIR.
pub(crate) fn writer(mut args: impl Iterator<Item = String>) -> Result<()> {
    let dir = PathBuf::from(args.next().ok_or("compare-writer DIR RECORDS")?);
    let records: u64 = args.next().ok_or("compare-writer DIR RECORDS")?.parse()?;
    let broker = Broker::open(&dir)?;
    broker.create_topic("crash", TopicConfig::default())?;
    let producer = broker.producer();
    send_in_batches(&producer, "crash", records, &[b'x'; 100])?;
    println!("written {records}");
    // Killed here, the broker open: no clean-shutdown marker, as after a crash.
    let mut line = String::new();
    std::io::stdin().read_line(&mut line)?;
    Err(format!("compare-writer on {} was not killed", dir.display()).into())
}

/// Sends `n` records of `value` to `topic` with `send_batch`, `EMBEDDED_BATCH` at a time.
fn send_in_batches(producer: &Producer, topic: &str, n: u64, value: &[u8]) -> strom::Result<()> {
    let mut left = n;
    while left > 0 {
        let k = left.min(EMBEDDED_BATCH as u64);
        producer.send_batch(topic, (0..k).map(|_| Record::new(value.to_vec())))?;
        left -= k;
    }
    Ok(())
}

/// The embedded rows, and `Broker::open`'s times on their data.
pub(super) fn rows(settings: &Settings) -> Result<(Vec<Row>, Startup)> {
    let dir = tempfile::tempdir()?;
    let broker = Broker::open(dir.path())?;
    let mut rows = Vec::new();
    let mut written = 0;
    for size in SIZES {
        rows.extend(produce_and_poll(&broker, size, settings)?);
        written += 2 * settings.records_of(size);
    }
    broker.close()?;

    let start = Instant::now();
    let broker = Broker::open(dir.path())?;
    let start = start.elapsed();
    broker.close()?;

    let crashed = crash(dir.path(), settings)?;
    Ok((
        rows,
        Startup {
            system: EMBEDDED,
            records: written + crashed.records,
            start,
            ..crashed
        },
    ))
}

/// `send` and `send_batch` of `size`-byte records, `poll` of them, and the latency row.
fn produce_and_poll(broker: &Broker, size: usize, settings: &Settings) -> Result<Vec<Row>> {
    let producer = broker.producer();
    let partitions = u32::try_from(settings.partitions)?;
    let n = settings.records_of(size);
    let value = vec![b'x'; size];
    let single = format!("send-{size}");
    broker.create_topic(&single, TopicConfig::default().partitions(partitions))?;
    let cpu = own_cpu()?;
    let start = Instant::now();
    for _ in 0..n {
        producer.send(&single, Record::new(value.clone()))?;
    }
    let seconds = start.elapsed().as_secs_f64();
    let send_cpu = (own_cpu()? - cpu) / seconds;
    let mut rows = vec![Row {
        system: EMBEDDED,
        client: "send",
        size,
        acks: "-",
        produce: Some(Rate {
            records: n,
            size,
            seconds,
        }),
        consume: None,
        latency: None,
        cpu: Some((send_cpu, None)),
    }];

    let batched = format!("batch-{size}");
    broker.create_topic(&batched, TopicConfig::default().partitions(partitions))?;
    let cpu = own_cpu()?;
    let start = Instant::now();
    send_in_batches(&producer, &batched, n, &value)?;
    let seconds = start.elapsed().as_secs_f64();
    let batch_cpu = (own_cpu()? - cpu) / seconds;
    let produce = Rate {
        records: n,
        size,
        seconds,
    };
    let consume = poll_all(broker, &batched, partitions, n, size)?;
    let latency = embedded_latency(broker, size, settings.samples)?;
    rows.push(Row {
        system: EMBEDDED,
        client: "send_batch, poll",
        size,
        acks: "-",
        produce: Some(produce),
        consume: Some(consume),
        latency: Some(latency),
        cpu: Some((batch_cpu, None)),
    });

    rows.push(send_batch_threads(broker, size, partitions, n, &value)?);
    rows.push(page_cache_ceiling(size, n)?);
    Ok(rows)
}

/// `send_batch` of `n` `size`-byte records from one thread per core, each with its own
/// producer, as an application with several producing threads would: Kafka and its client
/// use both cores too.
fn send_batch_threads(
    broker: &Broker,
    size: usize,
    partitions: u32,
    n: u64,
    value: &[u8],
) -> Result<Row> {
    let threads = thread::available_parallelism().map_or(2, usize::from);
    let parallel = format!("batch-threads-{size}");
    broker.create_topic(&parallel, TopicConfig::default().partitions(partitions))?;
    let cpu = own_cpu()?;
    let start = Instant::now();
    thread::scope(|scope| -> Result<()> {
        let workers: Vec<_> = (0..threads as u64)
            .map(|t| {
                let (producer, topic) = (broker.producer(), &parallel);
                // Thread t sends its share: n / threads, the first n % threads one more.
                let share = n / threads as u64 + u64::from(t < n % threads as u64);
                scope.spawn(move || send_in_batches(&producer, topic, share, value))
            })
            .collect();
        for worker in workers {
            worker
                .join()
                .map_err(|_| Failed::from("a producing thread panicked"))??;
        }
        Ok(())
    })?;
    let seconds = start.elapsed().as_secs_f64();
    let threads_cpu = (own_cpu()? - cpu) / seconds;
    Ok(Row {
        system: EMBEDDED,
        client: if threads == 2 {
            "send_batch, 2 threads"
        } else {
            "send_batch, a thread per core"
        },
        size,
        acks: "-",
        produce: Some(Rate {
            records: n,
            size,
            seconds,
        }),
        consume: None,
        latency: None,
        cpu: Some((threads_cpu, None)),
    })
}

/// The same bytes as `n` `size`-byte records written with plain `write(2)`, 1 MiB at a time,
/// into a file beside the broker's: no framing, no checksum, one copy into the page cache.
/// No log on this machine's disk appends faster, so it says what bounds the larger records.
fn page_cache_ceiling(size: usize, n: u64) -> Result<Row> {
    let dir = tempfile::tempdir()?;
    let chunk = vec![b'x'; 1 << 20];
    let mut left = n * size as u64;
    let cpu = own_cpu()?;
    let start = Instant::now();
    let mut file = std::fs::File::create(dir.path().join("ceiling"))?;
    while left > 0 {
        let k = usize::try_from(left.min(chunk.len() as u64))?;
        file.write_all(&chunk[..k])?;
        left -= k as u64;
    }
    let seconds = start.elapsed().as_secs_f64();
    let used = (own_cpu()? - cpu) / seconds;
    Ok(Row {
        system: "write(2) alone",
        client: "1 MiB writes",
        size,
        acks: "-",
        produce: Some(Rate {
            records: n,
            size,
            seconds,
        }),
        consume: None,
        latency: None,
        cpu: Some((used, None)),
    })
}

/// A child process appends a tenth more to `dir` and is killed with SIGKILL, the broker open;
/// then `Broker::open` recovers the directory, and a consumer reads the last record.
fn crash(dir: &Path, settings: &Settings) -> Result<Startup> {
    let crash = (settings.records / 10).max(1000);
    let exe = std::env::current_exe()?;
    let mut child = Command::new(&exe)
        .arg("compare-writer")
        .arg(dir)
        .arg(crash.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run {} compare-writer: {e}", exe.display()))?;
    let mut line = String::new();
    BufReader::new(child.stdout.take().ok_or("no stdout from compare-writer")?)
        .read_line(&mut line)?;
    if line.trim() != format!("written {crash}") {
        let _ = child.kill();
        let _ = child.wait();
        return Err(format!("compare-writer printed {line:?}").into());
    }
    // Child::kill is SIGKILL on Unix.
    child.kill()?;
    child.wait()?;
    let on_disk = dir_bytes(dir)?;
    let start = Instant::now();
    let broker = Broker::open(dir)?;
    let recover = start.elapsed();
    let tail = broker
        .describe_topic("crash")?
        .partitions
        .first()
        .map(|p| p.high_watermark)
        .ok_or("topic crash has no partition")?;
    if tail != crash {
        return Err(format!("topic crash holds {tail} records after the kill, not {crash}").into());
    }
    let mut consumer = broker.consumer(ConsumerConfig::default());
    let crashed = TopicPartition::new("crash", 0);
    consumer.assign(std::slice::from_ref(&crashed))?;
    consumer.seek(&crashed, tail - 1)?;
    if consumer.poll(Duration::from_secs(5))?.is_empty() {
        return Err(format!("the last record of crash/0 (offset {}) not read", tail - 1).into());
    }
    let tail_read = start.elapsed();
    broker.close()?;
    Ok(Startup {
        system: EMBEDDED,
        on_disk,
        records: crash,
        start: Duration::ZERO,
        recover,
        tail: tail_read,
    })
}

/// Reads `topic` from its beginning until `n` records have come; fails on more or fewer.
fn poll_all(broker: &Broker, topic: &str, partitions: u32, n: u64, size: usize) -> Result<Rate> {
    let mut consumer = broker.consumer(
        ConsumerConfig::default()
            .auto_offset_reset(OffsetReset::Earliest)
            .max_poll_records(EMBEDDED_POLL),
    );
    let all: Vec<_> = (0..partitions)
        .map(|p| TopicPartition::new(topic, p))
        .collect();
    let start = Instant::now();
    consumer.assign(&all)?;
    consumer.seek_to_beginning(&all)?;
    let mut read = 0u64;
    while read < n {
        let records = consumer.poll(Duration::from_secs(5))?;
        if records.is_empty() {
            return Err(format!("{topic}: {read} of {n} records, then nothing for 5 s").into());
        }
        for record in records {
            if record.value().len() != size {
                return Err(format!("{topic}: a record of {} bytes", record.value().len()).into());
            }
            read += 1;
        }
    }
    if read != n {
        return Err(format!("{topic}: read {read} records, {n} were produced").into());
    }
    Ok(Rate {
        records: n,
        size,
        seconds: start.elapsed().as_secs_f64(),
    })
}

/// `send` → the return of a `poll` waiting at the end of a one-partition topic.
fn embedded_latency(broker: &Broker, size: usize, samples: usize) -> Result<Latency> {
    let topic = format!("latency-{size}");
    broker.create_topic(&topic, TopicConfig::default())?;
    let mut consumer = broker.consumer(ConsumerConfig::default());
    consumer.assign(&[TopicPartition::new(topic.as_str(), 0)])?;
    let (ready_tx, ready_rx) = mpsc::channel::<()>();
    let (arrived_tx, arrived_rx) = mpsc::channel::<Result<Instant>>();
    let reader = thread::spawn(move || {
        for _ in 0..samples {
            if ready_tx.send(()).is_err() {
                return;
            }
            let arrived = match consumer.poll(Duration::from_secs(5)) {
                Ok(records) if records.len() == 1 => Ok(Instant::now()),
                Ok(records) => {
                    Err(format!("a poll returned {} records, not 1", records.len()).into())
                }
                Err(e) => Err(Failed::from(e)),
            };
            let failed = arrived.is_err();
            if arrived_tx.send(arrived).is_err() || failed {
                return;
            }
        }
    });
    let producer = broker.producer();
    let value = vec![b'x'; size];
    let mut micros = Vec::with_capacity(samples);
    for _ in 0..samples {
        ready_rx.recv().map_err(|_| "the reader has gone")?;
        // A pacing gap that lets the reader park in `poll` (a record sent before it parks is
        // found at once and counted alike).
        thread::sleep(Duration::from_millis(1));
        let sent = Instant::now();
        producer.send(&topic, Record::new(value.clone()))?;
        let arrived = arrived_rx.recv().map_err(|_| "the reader has gone")??;
        micros.push(arrived.saturating_duration_since(sent).as_nanos() as f64 / 1e3);
    }
    reader.join().map_err(|_| "the reader panicked")?;
    Ok(percentiles(micros))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn poll_all_reads_every_record_of_every_partition_once() {
        let dir = tempfile::tempdir().unwrap();
        let broker = Broker::open(dir.path()).unwrap();
        broker
            .create_topic("t", TopicConfig::default().partitions(3))
            .unwrap();
        let producer = broker.producer();
        for p in 0..3u32 {
            producer
                .send_batch(
                    "t",
                    (0..400).map(|_| Record::new(vec![b'x'; 100]).partition(p)),
                )
                .unwrap();
        }
        let rate = poll_all(&broker, "t", 3, 1200, 100).unwrap();
        assert_eq!((rate.records, rate.size), (1200, 100));
        assert!(rate.seconds > 0.0);
        // A record of another size is refused, not counted.
        producer.send("t", Record::new(vec![b'y'; 7])).unwrap();
        let err = poll_all(&broker, "t", 3, 1201, 100)
            .unwrap_err()
            .to_string();
        assert!(err.contains("a record of 7 bytes"), "{err}");
    }

    #[test]
    fn latency_samples_are_of_records_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let broker = Broker::open(dir.path()).unwrap();
        let latency = embedded_latency(&broker, 100, 20).unwrap();
        assert!(
            latency.p50 > 0.0 && latency.p50 <= latency.p99,
            "{latency:?}"
        );
        let end = broker.describe_topic("latency-100").unwrap().partitions[0].high_watermark;
        assert_eq!(end, 20);
    }
}
