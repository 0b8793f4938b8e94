//! `strom dump FILE.log`: a segment's batches (and records), as `kafka-dump-log`.

use std::fmt::Write as _;
use std::path::Path;

use strom::storage::batch::{self, RecordRef};

use crate::output::{text, write_all};
use crate::segment::{self, End};
use crate::{Failure, Outcome};

pub(crate) fn run(file: &Path, print_data: bool) -> Outcome {
    let bytes = std::fs::read(file)
        .map_err(|e| Failure::new(format!("reading {}: {e}", file.display())))?;
    let (out, damaged) = render(&bytes, print_data);
    let mut text = format!("Dumping {}\n", file.display());
    text.push_str(&out);
    write_all(text.as_bytes())?;
    if damaged == 0 {
        Ok(())
    } else {
        Err(Failure::new(format!(
            "{}: {damaged} damaged batch{} (marked above)",
            file.display(),
            if damaged == 1 { "" } else { "es" }
        )))
    }
}

/// The dump of a segment's bytes, and how many of its batches are damaged (a header past
/// which nothing can be read counts as one).
pub(crate) fn render(bytes: &[u8], print_data: bool) -> (String, usize) {
    let mut out = String::new();
    let mut damaged = 0;
    let end = segment::walk(bytes, |position, h, batch, checked| {
        let _ = writeln!(
            out,
            "baseOffset: {} lastOffset: {} count: {} baseSequence: {} producerId: {} \
             producerEpoch: {} isTransactional: {} isControl: {} position: {position} \
             CreateTime: {} firstTimestamp: {} size: {} magic: {} compresscodec: {} crc: {:#010x} \
             isvalid: {}",
            h.base_offset,
            h.last_offset(),
            h.record_count,
            h.origin.base_sequence,
            h.origin.producer_id,
            h.origin.producer_epoch,
            h.is_transactional(),
            h.is_control(),
            h.max_timestamp,
            h.first_timestamp,
            h.length,
            h.version,
            h.compression(),
            h.crc,
            checked.is_ok(),
        );
        match checked {
            Err(what) => {
                damaged += 1;
                let _ = writeln!(out, "| damaged at byte {position}: {what}");
            }
            Ok(()) if print_data => print_records(&mut out, batch, h),
            Ok(()) => {}
        }
    });
    match end {
        End::Complete => {}
        End::Zeroed(at) => {
            let _ = writeln!(out, "end of written data at byte {at} (zeroed from there)");
        }
        End::Torn(at) => {
            let _ = writeln!(
                out,
                "incomplete batch at byte {at}: the file ends inside it (a torn write; recovery cuts it off)"
            );
        }
        End::Unreadable(at, what) => {
            damaged += 1;
            let _ = writeln!(
                out,
                "unreadable batch header at byte {at}: {what}; nothing after it is read"
            );
        }
    }
    (out, damaged)
}

fn print_records(out: &mut String, batch: &[u8], h: &strom::storage::batch::BatchHeader) {
    if h.is_control() {
        if let Ok(control) = batch::control_record(batch) {
            let _ = writeln!(
                out,
                "| offset: {} CreateTime: {} endTxnMarker: {:?} coordinatorEpoch: {}",
                h.base_offset, h.max_timestamp, control.kind, control.coordinator_epoch
            );
        }
        return;
    }
    let _ = segment::records(batch, h, &mut |bytes: &[u8], r: RecordRef| {
        let slice = |range: &Option<std::ops::Range<usize>>| {
            range.as_ref().and_then(|r| bytes.get(r.clone()))
        };
        let key = slice(&r.key);
        let value = slice(&r.value);
        let headers: Vec<String> = bytes
            .get(r.headers.clone())
            .map(|encoded| {
                batch::headers(encoded, r.header_count, h.version)
                    .map(|(k, v)| format!("{}={}", text(k), v.map_or_else(|| "null".into(), text)))
                    .collect()
            })
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "| offset: {} CreateTime: {} keySize: {} valueSize: {} headers: [{}] key: {} payload: {}",
            r.offset,
            r.timestamp,
            key.map_or(-1, |k| i64::try_from(k.len()).unwrap_or(i64::MAX)),
            value.map_or(-1, |v| i64::try_from(v.len()).unwrap_or(i64::MAX)),
            headers.join(", "),
            key.map_or_else(|| "null".into(), text),
            value.map_or_else(|| "null".into(), text),
        );
    });
}
