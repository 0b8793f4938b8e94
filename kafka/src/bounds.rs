//! The check every request body passes before it is decoded.
//!
//! kafka-protocol's decoders reserve an array's claimed length before reading its elements
//! (`Vec::with_capacity(n)`), so a 20-byte request claiming 2^31 elements would make the
//! server allocate gigabytes. Each supported request's shape is walked here first: every
//! array length must be backed by that many elements actually present, every string and
//! byte field by its bytes. A body that passes is then decoded allocating at most a small
//! multiple of its size (each element holds at least one byte on the wire and a few dozen
//! bytes in memory).

use std::fmt;

/// A body that does not fit its request's shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Malformed(pub(crate) &'static str);

impl fmt::Display for Malformed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "malformed request: {}", self.0)
    }
}

pub(crate) type Checked = Result<(), Malformed>;

/// A cursor over a request body that only skips, checking lengths against what is left.
#[derive(Debug)]
pub(crate) struct Walk<'a> {
    rest: &'a [u8],
    /// Flexible versions: compact lengths (varints) and tagged fields.
    flexible: bool,
}

impl<'a> Walk<'a> {
    pub(crate) fn new(body: &'a [u8], flexible: bool) -> Self {
        Self {
            rest: body,
            flexible,
        }
    }

    pub(crate) fn skip(&mut self, n: usize) -> Checked {
        if n > self.rest.len() {
            return Err(Malformed("a field runs past the end of the request"));
        }
        self.rest = &self.rest[n..];
        Ok(())
    }

    fn int16(&mut self) -> Result<i16, Malformed> {
        let bytes = self.take::<2>()?;
        Ok(i16::from_be_bytes(bytes))
    }

    fn int32(&mut self) -> Result<i32, Malformed> {
        let bytes = self.take::<4>()?;
        Ok(i32::from_be_bytes(bytes))
    }

    fn take<const N: usize>(&mut self) -> Result<[u8; N], Malformed> {
        let (head, tail) = self
            .rest
            .split_first_chunk::<N>()
            .ok_or(Malformed("a field runs past the end of the request"))?;
        self.rest = tail;
        Ok(*head)
    }

    fn varint(&mut self) -> Result<u32, Malformed> {
        let mut value = 0u32;
        for shift in (0..35).step_by(7) {
            let [byte] = self.take::<1>()?;
            value |= u32::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(Malformed("a varint longer than 5 bytes"))
    }

    pub(crate) fn int8(&mut self) -> Checked {
        self.skip(1)
    }

    /// A nullable structure: -1 for null, else 1 followed by its fields, walked by `fields`.
    pub(crate) fn nullable(&mut self, fields: impl FnOnce(&mut Self) -> Checked) -> Checked {
        let [marker] = self.take::<1>()?;
        if marker == 0xff {
            Ok(())
        } else {
            fields(self)
        }
    }

    pub(crate) fn boolean(&mut self) -> Checked {
        self.skip(1)
    }

    pub(crate) fn i16(&mut self) -> Checked {
        self.skip(2)
    }

    pub(crate) fn i32(&mut self) -> Checked {
        self.skip(4)
    }

    pub(crate) fn i64(&mut self) -> Checked {
        self.skip(8)
    }

    pub(crate) fn uuid(&mut self) -> Checked {
        self.skip(16)
    }

    /// A string, nullable or not: its bytes must be there.
    pub(crate) fn string(&mut self) -> Checked {
        let len = if self.flexible {
            i64::from(self.varint()?) - 1
        } else {
            i64::from(self.int16()?)
        };
        if len < -1 {
            return Err(Malformed("a negative string length"));
        }
        self.skip(usize::try_from(len.max(0)).unwrap_or(usize::MAX))
    }

    /// A byte field, nullable or not (a group member's metadata, an assignment): its bytes
    /// must be there.
    pub(crate) fn bytes(&mut self) -> Checked {
        let len = if self.flexible {
            i64::from(self.varint()?) - 1
        } else {
            i64::from(self.int32()?)
        };
        if len < -1 {
            return Err(Malformed("a negative byte field length"));
        }
        self.skip(usize::try_from(len.max(0)).unwrap_or(usize::MAX))
    }

    /// An array, nullable or not, of elements each walked by `element`. A count larger than
    /// the bytes left cannot be backed by elements: refused before walking any.
    pub(crate) fn array(&mut self, mut element: impl FnMut(&mut Self) -> Checked) -> Checked {
        let count = if self.flexible {
            i64::from(self.varint()?) - 1
        } else {
            i64::from(self.int32()?)
        };
        if count < -1 {
            return Err(Malformed("a negative array length"));
        }
        let count = usize::try_from(count.max(0)).unwrap_or(usize::MAX);
        if count > self.rest.len() {
            return Err(Malformed("an array longer than the request"));
        }
        for _ in 0..count {
            element(self)?;
        }
        Ok(())
    }

    /// The tagged fields closing a structure in flexible versions.
    pub(crate) fn tags(&mut self) -> Checked {
        if !self.flexible {
            return Ok(());
        }
        let count = self.varint()?;
        for _ in 0..count {
            self.varint()?;
            let size = self.varint()?;
            self.skip(size as usize)?;
        }
        Ok(())
    }

    /// What the request header's own fields occupy (request header v1 or v2).
    pub(crate) fn header(body: &'a [u8], header_version: i16) -> Result<Self, Malformed> {
        let mut walk = Self::new(body, false);
        walk.skip(8)?; // api key, api version, correlation id
        walk.string()?; // client id: a non-compact string in every header version
        walk.flexible = header_version >= 2;
        walk.tags()?;
        Ok(walk)
    }

    /// The bytes after the header.
    pub(crate) fn rest(&self) -> &'a [u8] {
        self.rest
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_array_claiming_more_elements_than_bytes_is_refused() {
        let body = [0x7f, 0xff, 0xff, 0xff, 0, 0, 0, 1];
        let mut walk = Walk::new(&body, false);
        assert_eq!(
            walk.array(Walk::i32),
            Err(Malformed("an array longer than the request"))
        );
        // Compact: 2^32 - 2 elements in a varint.
        let body = [0xff, 0xff, 0xff, 0xff, 0x0f, 1, 2];
        let mut walk = Walk::new(&body, true);
        assert!(walk.array(Walk::i32).is_err());
    }

    #[test]
    fn a_backed_array_and_strings_pass() {
        // Two strings "a", "bc", then a null string.
        let body = [0, 0, 0, 2, 0, 1, b'a', 0, 2, b'b', b'c', 0xff, 0xff];
        let mut walk = Walk::new(&body, false);
        assert_eq!(walk.array(Walk::string), Ok(()));
        assert_eq!(walk.string(), Ok(()));
        assert!(walk.rest().is_empty());
        let mut short = Walk::new(&body[..9], false);
        assert!(short.array(Walk::string).is_err());
    }

    #[test]
    fn a_string_past_the_end_and_a_runaway_varint_are_refused() {
        let mut walk = Walk::new(&[0x7f, 0xff, b'x'], false);
        assert!(walk.string().is_err());
        let mut walk = Walk::new(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff], true);
        assert!(walk.string().is_err());
    }
}
