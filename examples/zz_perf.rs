//! perf scratch
use std::time::{Duration, Instant};
use strom::*;
fn main() -> Result<()> {
    let dir = match std::env::var("PERF_DIR") { Ok(d) => tempfile::tempdir_in(d).unwrap(), Err(_) => tempfile::tempdir().unwrap() };
    let broker = Broker::open(dir.path())?;
    broker.create_topic("b", TopicConfig::default().segment_bytes(1 << 30))?;
    let p = broker.producer();
    let n = 2_000_000usize;
    let value = vec![b'x'; 100];
    // batches
    let batches: Vec<Vec<Record>> = (0..n / 100).map(|_| (0..100).map(|_| Record::new(value.clone())).collect()).collect();
    let t = Instant::now();
    for b in batches { let m = p.send_batch("b", b)?; std::hint::black_box(&m); drop(m); }
    let e = t.elapsed();
    println!("send_batch(100): {:.2} M rec/s", n as f64 / e.as_secs_f64() / 1e6);
    let singles: Vec<Record> = (0..n).map(|_| Record::new(value.clone())).collect();
    let t = Instant::now();
    for r in singles { std::hint::black_box(p.send("b", r)?); }
    let e = t.elapsed();
    println!("send: {:.2} M rec/s", n as f64 / e.as_secs_f64() / 1e6);
    let mut c = broker.consumer(ConsumerConfig::default().auto_offset_reset(OffsetReset::Earliest).max_poll_records(10000));
    c.assign(&[TopicPartition::new("b", 0)])?;
    let t = Instant::now();
    let mut got = 0; let mut bytes = 0;
    while got < 2 * n { let r = c.poll(Duration::ZERO)?; for x in &r { bytes += x.value().len(); } got += r.len(); }
    let e = t.elapsed();
    println!("read: {:.2} M rec/s ({bytes})", got as f64 / e.as_secs_f64() / 1e6);
    Ok(())
}
