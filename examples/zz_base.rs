//! scratch
use std::io::Write;
use std::time::Instant;
fn main() {
    let dir = tempfile::tempdir().unwrap();
    for round in 0..3 {
        let path = dir.path().join(format!("f{round}"));
        let mut f = std::fs::File::create(&path).unwrap();
        let n = 4_000_000usize;
        let payload = vec![b'x'; 100];
        let mut buf = Vec::with_capacity(64 * 1024);
        let t = Instant::now();
        for _ in 0..n {
            if buf.len() + 108 > 64 * 1024 { f.write_all(&buf).unwrap(); buf.clear(); }
            buf.extend_from_slice(&(100u32).to_le_bytes());
            buf.extend_from_slice(&crc32fast::hash(&payload).to_le_bytes());
            buf.extend_from_slice(&payload);
        }
        f.write_all(&buf).unwrap();
        let e = t.elapsed();
        println!("framed write: {:.2} M rec/s", n as f64 / e.as_secs_f64() / 1e6);
    }
}
