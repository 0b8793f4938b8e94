//! `strom produce`: one record per line of stdin, as `kafka-console-producer`.

use std::io::{self, BufRead};
use std::path::Path;

use strom::Record;

use crate::args::ProduceArgs;
use crate::{dir, Failure, Outcome};

/// Records sent per `send_batch`: large enough that appends are batched, small enough that
/// a slow stdin still sees its lines stored soon.
const CHUNK: usize = 1000;

pub(crate) fn run(dir: &Path, args: &ProduceArgs) -> Outcome {
    let broker = dir::open_write(dir)?;
    let producer = broker.producer();
    let topic = producer.topic(&args.topic)?;
    let mut stdin = io::BufReader::with_capacity(1 << 16, io::stdin().lock());
    let mut line = Vec::new();
    let mut chunk = Vec::with_capacity(CHUNK);
    let mut number = 0u64;
    loop {
        line.clear();
        let read = stdin
            .read_until(b'\n', &mut line)
            .map_err(|e| Failure::new(format!("reading standard input: {e}")))?;
        if read == 0 {
            break;
        }
        number += 1;
        if line.last() == Some(&b'\n') {
            line.pop();
        }
        let mut record = match &args.key_separator {
            Some(sep) => {
                let at = find(&line, sep.as_bytes()).ok_or_else(|| {
                    Failure::new(format!(
                        "line {number} has no key separator {sep:?} (nothing of this line or later was sent)"
                    ))
                })?;
                Record::new(&line[at + sep.len()..]).key(&line[..at])
            }
            None => Record::new(line.as_slice()),
        };
        if let Some(p) = args.partition {
            record = record.partition(p);
        }
        chunk.push(record);
        // A whole chunk, or whatever is there when stdin has nothing more buffered (an
        // interactive producer sees each line stored as it is typed).
        if chunk.len() == CHUNK || stdin.buffer().is_empty() {
            topic.send_batch(chunk.drain(..))?;
        }
    }
    if !chunk.is_empty() {
        topic.send_batch(chunk.drain(..))?;
    }
    producer.flush()?;
    broker.close()?;
    Ok(())
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}
