//! Following the end of a segment that another process appends to.
//!
//! A directory opened read-only has no say over its files: the writer (another process)
//! copies batches into its map of the last segment, seals it by cutting the file to its data,
//! and after a crash its next open cuts a torn tail. A [`Tail`] therefore trusts nothing in
//! the file past what it has checked itself, exactly as recovery would check it: it reads the
//! bytes after its checked end with plain reads (never through a map, which would fault on
//! a page the writer just cut off), accepts each whole batch whose length, checksum and base
//! offset (the next one expected, without gaps: the writer appends contiguously) verify, and
//! only then publishes it into the segment's read-only map for readers. A batch the writer is
//! still copying fails its checksum and is looked at again next time; a torn tail left by a
//! crash is never accepted, so the writer's recovery, which cuts at the same place, never
//! takes back a record a reader saw.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::batch;
use super::index::{IndexEntry, SparseIndex};
use super::mapping::{MapFollower, Mapping};
use super::segment::{Layout, Segment, MAX_SEGMENT_FILE_BYTES};
use super::{segment_path, LOG_EXT};
use crate::error::{IoContext, Result};

/// Bytes of the first read past the checked end: little for a check that finds nothing new
/// (the common case of a reader waiting), enough for a few small batches.
const FIRST_READ_BYTES: usize = 4 << 10;
/// Bytes of each further read, once the first found a full read of batches: catching up
/// takes few system calls.
const READ_BYTES: usize = 256 << 10;

/// Index entries a followed segment can hold (one per `index_interval` bytes, up to this).
const INDEX_CAPACITY: usize = 1 << 16;

/// What one [`Tail::advance`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Advance {
    /// New batches were published.
    pub(crate) grew: bool,
    /// The file ends at the checked end: the writer sealed or closed the segment there (or
    /// nothing was ever written to it).
    pub(crate) at_file_end: bool,
    /// The segment's view was replaced by one with a longer map: readers' segment lists must
    /// take [`Tail::segment`] again.
    pub(crate) replaced: bool,
}

/// The follower of one segment file another process appends to.
#[derive(Debug)]
pub(crate) struct Tail {
    path: PathBuf,
    base_offset: u64,
    layout: Layout,
    file: File,
    /// The file's identity when opened: a file put in its place is another segment.
    identity: Option<(u64, u64)>,
    segment: Arc<Segment>,
    follower: Option<MapFollower>,
    /// Bytes checked: whole valid batches, contiguous from the start.
    end: u64,
    next_offset: u64,
    max_timestamp: i64,
    /// Bytes checked since the last index entry.
    since_entry: u64,
    buf: Vec<u8>,
}

impl Tail {
    /// Starts following the segment `base_offset` in `dir`, nothing checked yet.
    ///
    /// # Errors
    /// [`Error::Io`](crate::Error::Io) if the file cannot be opened or mapped.
    pub(crate) fn open(dir: &Path, base_offset: u64, layout: Layout) -> Result<Self> {
        let path = segment_path(dir, base_offset, LOG_EXT);
        let file = File::open(&path).at(&path)?;
        let identity = identity(&file);
        let index = SparseIndex::with_capacity(INDEX_CAPACITY);
        let (map, follower) = map_file(&file, &path)?;
        let segment = Arc::new(Segment::followed(
            path.clone(),
            base_offset,
            layout,
            map,
            index,
        ));
        Ok(Self {
            path,
            base_offset,
            layout,
            file,
            identity,
            segment,
            follower,
            end: 0,
            next_offset: base_offset,
            max_timestamp: i64::MIN,
            since_entry: 0,
            buf: Vec::new(),
        })
    }

    /// The read view of the segment, up to what is checked.
    pub(crate) fn segment(&self) -> &Arc<Segment> {
        &self.segment
    }

    /// The segment's first offset.
    pub(crate) fn base_offset(&self) -> u64 {
        self.base_offset
    }

    /// Bytes checked so far.
    pub(crate) fn end(&self) -> u64 {
        self.end
    }

    /// Whether the file at the segment's path is still the one followed (a writer replaces
    /// an empty last segment by a larger one under the same name).
    pub(crate) fn is_current(&self) -> bool {
        match File::open(&self.path) {
            Ok(file) => identity(&file) == self.identity,
            Err(_) => false,
        }
    }

    /// The file's length now.
    ///
    /// # Errors
    /// [`Error::Io`](crate::Error::Io) if it cannot be looked up.
    pub(crate) fn file_len(&self) -> Result<u64> {
        Ok(self.file.metadata().at(&self.path)?.len())
    }

    /// Checks the bytes the writer appended since the last call and publishes the whole
    /// valid batches among them; `each` sees every batch published, in order (header and
    /// bytes), before readers can.
    ///
    /// # Errors
    /// [`Error::Io`](crate::Error::Io) if the file cannot be read or mapped again.
    pub(crate) fn advance(
        &mut self,
        mut each: impl FnMut(&batch::BatchHeader, &[u8]),
    ) -> Result<Advance> {
        let mut advance = Advance::default();
        let start = self.end;
        let mut chunk = FIRST_READ_BYTES;
        loop {
            let mut read = self.read_at(self.end, chunk)?;
            if read == 0 {
                advance.at_file_end = true;
                break;
            }
            let whole = read == chunk;
            if let Some(Ok(h)) = self.buf.get(..read).map(batch::read_header) {
                let len = h.length as usize;
                // A batch longer than one read: read all of it (a length past any batch's
                // is left to fail its check).
                if whole && len > read && len <= batch::MAX_BATCH_BYTES + batch::HEADER_BYTES {
                    read = self.read_at(self.end, len)?;
                }
            }
            let want = self.buf.len();
            let mut pos = 0;
            let checked_before = self.end;
            while let Some(Ok(header)) = self.buf.get(pos..read).map(batch::check) {
                // Contiguous, as recovery checks the active segment: a stale batch left past
                // a torn write must not pass for the log's continuation.
                if header.base_offset != self.next_offset
                    || self.end + u64::from(header.length) > MAX_SEGMENT_FILE_BYTES
                {
                    break;
                }
                let len = header.length as usize;
                let bytes = self.buf.get(pos..pos + len).unwrap_or_default();
                each(&header, bytes);
                self.add_index_entry(&header);
                self.max_timestamp = self.max_timestamp.max(header.max_timestamp);
                self.end += u64::from(header.length);
                self.since_entry += u64::from(header.length);
                self.next_offset = header.next_offset();
                pos += len;
            }
            if read < want {
                // A short read: the file ends there. Checked to its end, the writer has cut
                // the file at its data (a seal or a close).
                advance.at_file_end = pos == read;
                break;
            }
            if self.end == checked_before {
                break;
            }
            chunk = READ_BYTES;
        }
        if self.end > start {
            advance.replaced = self.publish()?;
            advance.grew = true;
        }
        Ok(advance)
    }

    /// Reads up to `want` bytes at `at` into the buffer; returns how many it got.
    fn read_at(&mut self, at: u64, want: usize) -> Result<usize> {
        self.buf.resize(want, 0);
        let mut got = 0;
        while got < want {
            #[cfg(unix)]
            let n = {
                let buf = self.buf.get_mut(got..).unwrap_or_default();
                std::os::unix::fs::FileExt::read_at(&self.file, buf, at + got as u64)
                    .at(&self.path)?
            };
            // Elsewhere the file's cursor: this tail is its only user.
            #[cfg(not(unix))]
            let n = {
                use std::io::{Read, Seek, SeekFrom};
                let buf = self.buf.get_mut(got..).unwrap_or_default();
                let mut file = &self.file;
                file.seek(SeekFrom::Start(at + got as u64))
                    .and_then(|_| file.read(buf))
                    .at(&self.path)?
            };
            if n == 0 {
                break;
            }
            got += n;
        }
        Ok(got)
    }

    /// Adds an index entry before the batch of `header`, every `index_interval` bytes, as the
    /// writer would, so that reads from an offset start near it.
    fn add_index_entry(&mut self, header: &batch::BatchHeader) {
        if self.since_entry < self.layout.index_interval || self.end == 0 {
            return;
        }
        let Some(index) = self.segment.loaded_index() else {
            return;
        };
        let relative = header.base_offset - self.base_offset;
        let (Ok(relative_offset), Ok(position)) =
            (u32::try_from(relative), u32::try_from(self.end))
        else {
            return;
        };
        if index.push(IndexEntry {
            relative_offset,
            position,
            max_timestamp_before: self.max_timestamp,
        }) {
            self.since_entry = 0;
        }
    }

    /// Publishes the checked bytes into the view, mapping the file again (a new view) when
    /// they reach past the map; returns whether the view was replaced.
    fn publish(&mut self) -> Result<bool> {
        let end = usize::try_from(self.end).unwrap_or(usize::MAX);
        let mapped = self.follower.as_ref().map_or(0, |f| f.map().len());
        let mut replaced = false;
        if end > mapped {
            // The file grew after it was mapped (it was created empty, or reopened and
            // extended by the writer): a longer map, in a view of its own.
            let (map, follower) = map_file(&self.file, &self.path)?;
            let index = SparseIndex::with_capacity(INDEX_CAPACITY);
            if let Some(old) = self.segment.loaded_index() {
                for i in 0..old.len() {
                    if let Some(entry) = old.get(i) {
                        index.push(entry);
                    }
                }
            }
            self.segment = Arc::new(Segment::followed(
                self.path.clone(),
                self.base_offset,
                self.layout,
                map,
                index,
            ));
            self.follower = follower;
            replaced = true;
        }
        if let Some(follower) = &mut self.follower {
            follower.publish(end);
        }
        self.segment
            .publish_followed(self.end, self.next_offset, self.max_timestamp);
        Ok(replaced)
    }
}

/// A read-only map of all of `file` as it is now, and its follower (none for an empty file).
fn map_file(file: &File, path: &Path) -> Result<(Option<Arc<Mapping>>, Option<MapFollower>)> {
    let len = file.metadata().at(path)?.len().min(MAX_SEGMENT_FILE_BYTES);
    let len = usize::try_from(len).unwrap_or(usize::MAX);
    if len == 0 {
        return Ok((None, None));
    }
    let (map, follower) = Mapping::followed(file, len, path)?;
    Ok((Some(map), Some(follower)))
}

/// A file's device and inode, where the platform has them.
fn identity(file: &File) -> Option<(u64, u64)> {
    file.metadata()
        .ok()
        .and_then(|m| super::segment::file_identity(&m))
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;
    use crate::storage::batch::{encode, encoded_len, Entry};

    fn layout() -> Layout {
        Layout {
            index_interval: 256,
            prefault_bytes: 4096,
            read_only: true,
        }
    }

    /// A batch of `n` records of `value_len` bytes at `base`.
    fn batch_at(base: u64, n: usize, value_len: usize) -> Vec<u8> {
        let value = vec![b'v'; value_len];
        let entries: Vec<Entry<'_>> = (0..n)
            .map(|i| Entry {
                timestamp: 1000 + i64::try_from(i).expect("small"),
                key: None,
                value: Some(&value),
                headers: &[],
            })
            .collect();
        let mut bytes = vec![0; encoded_len(&entries)];
        encode(&mut bytes, base, &entries).expect("sized buffer");
        bytes
    }

    fn append(path: &Path, bytes: &[u8]) {
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .open(path)
            .expect("open");
        file.write_all(bytes).expect("append");
    }

    #[test]
    fn only_whole_contiguous_batches_are_published() -> Result<()> {
        let dir = tempfile::tempdir().expect("dir");
        let path = segment_path(dir.path(), 10, LOG_EXT);
        // The writer's file, preallocated with zeroes past its data.
        let first = batch_at(10, 3, 20);
        let mut file = first.clone();
        file.resize(8192, 0);
        std::fs::write(&path, &file).expect("write");
        let mut tail = Tail::open(dir.path(), 10, layout())?;
        let mut seen = Vec::new();
        let advance = tail.advance(|h, _| seen.push(h.base_offset))?;
        assert!(advance.grew && !advance.at_file_end);
        assert_eq!(seen, [10]);
        assert_eq!(tail.segment().next_offset(), 13);
        assert_eq!(tail.end(), first.len() as u64);

        // Half of the next batch: a copy under way. Nothing new is published.
        let second = batch_at(13, 2, 20);
        let mut bytes = std::fs::read(&path).expect("read");
        let at = first.len();
        bytes[at..at + second.len() / 2].copy_from_slice(&second[..second.len() / 2]);
        std::fs::write(&path, &bytes).expect("write");
        assert!(!tail.advance(|_, _| {})?.grew);
        assert_eq!(tail.segment().next_offset(), 13);
        // Whole now: published.
        bytes[at..at + second.len()].copy_from_slice(&second);
        std::fs::write(&path, &bytes).expect("write");
        assert!(tail.advance(|_, _| {})?.grew);
        assert_eq!(tail.segment().next_offset(), 15);

        // A valid batch that does not follow on (a stale one past a torn write) is not the
        // log's continuation.
        let stale = batch_at(40, 1, 20);
        let at = first.len() + second.len();
        bytes[at..at + stale.len()].copy_from_slice(&stale);
        std::fs::write(&path, &bytes).expect("write");
        assert!(!tail.advance(|_, _| {})?.grew);
        assert_eq!(tail.segment().next_offset(), 15);
        Ok(())
    }

    #[test]
    fn a_file_cut_to_the_data_ends_and_a_grown_one_is_mapped_again() -> Result<()> {
        let dir = tempfile::tempdir().expect("dir");
        let path = segment_path(dir.path(), 0, LOG_EXT);
        // Created empty, as a writer's new segment is before it is preallocated.
        std::fs::write(&path, b"").expect("write");
        let mut tail = Tail::open(dir.path(), 0, layout())?;
        assert!(tail.advance(|_, _| {})?.at_file_end);
        // Batches larger than one read, written with no zeroes after them (a sealed file).
        let mut offset = 0;
        for _ in 0..4 {
            let bytes = batch_at(offset, 30, 300);
            assert!(bytes.len() > FIRST_READ_BYTES);
            append(&path, &bytes);
            offset += 30;
        }
        let advance = tail.advance(|_, _| {})?;
        assert!(advance.grew && advance.replaced && advance.at_file_end);
        assert_eq!(tail.segment().next_offset(), 120);
        assert_eq!(tail.end(), tail.file_len()?);
        assert!(
            tail.segment().loaded_index().is_some_and(|i| i.len() > 0),
            "index entries every interval"
        );
        // Every batch reads back through the published map.
        let mut read = Vec::new();
        let _ = tail.segment().read_batches(0, 120, |b| {
            read.push(b.header.base_offset);
            Ok(std::ops::ControlFlow::Continue(()))
        })?;
        assert_eq!(read, [0, 30, 60, 90]);
        Ok(())
    }
}
