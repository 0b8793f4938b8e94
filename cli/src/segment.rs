//! Walking a segment file's batches with the library's batch decoder
//! (`strom::storage::batch`): what `dump` prints and `verify` checks.

use strom::storage::batch::{self, BatchHeader, DecodeError, RecordRef};
use strom::Compression;

/// How the walk through a segment's bytes ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum End {
    /// The bytes ended after a whole batch.
    Complete,
    /// Zeroed bytes from here on: the end of written data in a preallocated file.
    Zeroed(usize),
    /// A batch that starts here runs past the end of the file: a torn write, which recovery
    /// cuts off.
    Torn(usize),
    /// A header here cannot be read, so no later batch can be found.
    Unreadable(usize, String),
}

/// Calls `visit` with each batch's position, header, bytes and checks (its checksum, then
/// every record or control record), in file order, and tells how the walk ended.
pub(crate) fn walk(
    bytes: &[u8],
    mut visit: impl FnMut(usize, &BatchHeader, &[u8], Result<(), String>),
) -> End {
    let mut pos = 0usize;
    while pos < bytes.len() {
        let rest = &bytes[pos..];
        let header = match batch::read_header(rest) {
            Ok(h) => h,
            Err(DecodeError::Zeroed) => return End::Zeroed(pos),
            Err(DecodeError::Truncated) => return End::Torn(pos),
            Err(e) => return End::Unreadable(pos, e.to_string()),
        };
        let Some(batch) = rest.get(..header.length as usize) else {
            return End::Torn(pos);
        };
        let checked = match batch::check(batch) {
            Ok(_) => records(batch, &header, &mut |_, _| {}),
            Err(e) => Err(e.to_string()),
        };
        visit(pos, &header, batch, checked);
        pos += batch.len();
    }
    End::Complete
}

/// Decodes every record of a batch that passed its checksum, decompressing it first if it is
/// compressed, and gives each to `each` with the bytes its ranges index.
pub(crate) fn records(
    batch: &[u8],
    header: &BatchHeader,
    each: &mut dyn FnMut(&[u8], RecordRef),
) -> Result<(), String> {
    if header.is_control() {
        return batch::control_record(batch)
            .map(|_| ())
            .map_err(|e| e.to_string());
    }
    let plain;
    let decoded = if header.compression() == Compression::None {
        batch
    } else {
        plain = batch::decompress(batch).map_err(|e| e.to_string())?;
        &plain
    };
    let mut count = 0u32;
    for record in batch::records(decoded).map_err(|e| e.to_string())? {
        each(decoded, record.map_err(|e| e.to_string())?);
        count += 1;
    }
    if count == header.record_count {
        Ok(())
    } else {
        Err(format!(
            "{count} records where the header says {}",
            header.record_count
        ))
    }
}
