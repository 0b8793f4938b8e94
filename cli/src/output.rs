//! Writing to stdout: buffered, with a closed pipe ending the command quietly, and the
//! human tables.

use std::io::{self, Write};

use crate::{Failure, Outcome};

/// The message of a [`Failure`] that means stdout's reader went away: `main` exits 0.
pub(crate) const BROKEN_PIPE: &str = "\0broken pipe";

/// An I/O error writing stdout as a [`Failure`].
pub(crate) fn stdout_failure(e: &io::Error) -> Failure {
    if e.kind() == io::ErrorKind::BrokenPipe {
        Failure::new(BROKEN_PIPE)
    } else {
        Failure::new(format!("writing to standard output: {e}"))
    }
}

/// Writes `bytes` to stdout and flushes.
pub(crate) fn write_all(bytes: &[u8]) -> Outcome {
    let mut out = io::stdout().lock();
    out.write_all(bytes)
        .and_then(|()| out.flush())
        .map_err(|e| stdout_failure(&e))
}

/// Rows under a header, each column as wide as its widest cell, two spaces apart.
pub(crate) fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut text = String::new();
    let mut line = |cells: &mut dyn Iterator<Item = &str>| {
        let mut l = String::new();
        for (i, cell) in cells.enumerate() {
            if i > 0 {
                l.push_str("  ");
            }
            l.push_str(cell);
            let pad = widths[i].saturating_sub(cell.chars().count());
            l.extend(std::iter::repeat_n(' ', pad));
        }
        text.push_str(l.trim_end());
        text.push('\n');
    };
    line(&mut header.iter().copied());
    for row in rows {
        line(&mut row.iter().map(String::as_str));
    }
    text
}

/// Lossy UTF-8 of a key or value, for text output.
pub(crate) fn text(bytes: &[u8]) -> std::borrow::Cow<'_, str> {
    String::from_utf8_lossy(bytes)
}
