//! How keys and values of a topology turn into bytes and back: the [`Codec`] trait and its
//! implementations, byte-compatible with Kafka's serializers of the same types.
//!
//! | Type | Bytes | Kafka's counterpart |
//! |---|---|---|
//! | `String` | UTF-8 | `StringSerializer` |
//! | `Vec<u8>` | as they are | `ByteArraySerializer` |
//! | `u64`, `i64` | 8 bytes, big-endian | `LongSerializer` |
//! | `()` | none (a missing key or value) | `VoidSerializer` |
//! | [`Json<T>`] | serde JSON | a JSON serde |
//! | [`Windowed<K>`] | the key's bytes, then the window's start as 8 bytes big-endian | `TimeWindowedSerializer` |

use std::fmt;
use std::ops::{Deref, DerefMut};

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::{Error, Result};

/// Encodes a key or value of a stream into bytes and decodes it back.
///
/// Every key and value type of a [`KStream`](super::KStream) implements it, so that
/// sources decode and sinks, changelogs and repartition topics encode themselves; no serde
/// object is passed around. A record is decoded once where it enters a topology, and its
/// typed key and value then flow through the operators.
///
/// # Examples
///
/// ```
/// use strom::streams::Codec;
///
/// let mut bytes = Vec::new();
/// (-1_i64).encode(&mut bytes);
/// assert_eq!(bytes, [0xff; 8]); // as Kafka's LongSerializer
/// assert_eq!(i64::decode(&bytes)?, -1);
/// assert!(u64::decode(b"short").is_err());
/// # Ok::<(), strom::Error>(())
/// ```
///
/// A codec of one's own, here for a fixed-width little-endian `u32`:
///
/// ```
/// use strom::streams::{codec_error, Codec};
///
/// #[derive(Clone, Debug, PartialEq)]
/// struct Celsius(u32);
///
/// impl Codec for Celsius {
///     fn encode(&self, out: &mut Vec<u8>) {
///         out.extend_from_slice(&self.0.to_le_bytes());
///     }
///     fn decode(bytes: &[u8]) -> strom::Result<Self> {
///         let raw = <[u8; 4]>::try_from(bytes)
///             .map_err(|_| codec_error(format!("Celsius needs 4 bytes, found {}", bytes.len())))?;
///         Ok(Celsius(u32::from_le_bytes(raw)))
///     }
/// }
///
/// let mut bytes = Vec::new();
/// Celsius(21).encode(&mut bytes);
/// assert_eq!(Celsius::decode(&bytes)?, Celsius(21));
/// # Ok::<(), strom::Error>(())
/// ```
pub trait Codec: Clone + Send + Sync + 'static {
    /// Appends the bytes of `self` to `out`.
    fn encode(&self, out: &mut Vec<u8>);

    /// Decodes a value from all of `bytes`.
    ///
    /// # Errors
    ///
    /// [`Error::Serde`] when the bytes are not a value of the type; its context says what
    /// was wrong, and a running topology adds the topic, partition and offset of the record.
    fn decode(bytes: &[u8]) -> Result<Self>;

    /// Appends the bytes of `self` to `out`, or says why it cannot.
    ///
    /// Sinks, changelogs and repartition topics encode through this method. By default it
    /// calls [`encode`](Self::encode) and cannot fail; [`Json<T>`] overrides it, because a
    /// serde `Serialize` implementation may refuse a value (a map with non-string keys).
    ///
    /// # Errors
    ///
    /// [`Error::Serde`] when the value cannot be encoded; `out` is then left as it was.
    fn try_encode(&self, out: &mut Vec<u8>) -> Result<()> {
        self.encode(out);
        Ok(())
    }

    /// Whether this value stands for Kafka's `null`: written as a record with no key or
    /// no value (a tombstone, for a compacted topic) rather than as zero bytes.
    ///
    /// By default, `false`; `()` is always absent, as Kafka's `VoidSerializer` writes
    /// `null`.
    fn is_absent(&self) -> bool {
        false
    }
}

/// An [`Error::Serde`] for a [`Codec`] that is not JSON, with `context` saying what failed.
///
/// `Error::Serde` carries a `serde_json::Error` as its source; this makes one from a
/// message, so that every decoding failure, JSON or not, is the same variant.
pub fn codec_error(context: impl Into<String>) -> Error {
    let context = context.into();
    Error::Serde {
        source: <serde_json::Error as serde::de::Error>::custom(&context),
        context,
    }
}

impl Codec for String {
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self.as_bytes());
    }

    fn decode(bytes: &[u8]) -> Result<Self> {
        match std::str::from_utf8(bytes) {
            Ok(text) => Ok(text.to_owned()),
            Err(e) => Err(codec_error(format!(
                "String: invalid UTF-8 at byte {}",
                e.valid_up_to()
            ))),
        }
    }
}

impl Codec for Vec<u8> {
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self);
    }

    fn decode(bytes: &[u8]) -> Result<Self> {
        Ok(bytes.to_vec())
    }
}

/// Kafka's `LongDeserializer` refuses anything but exactly 8 bytes; so do we.
fn eight_bytes(bytes: &[u8], type_name: &str) -> Result<[u8; 8]> {
    <[u8; 8]>::try_from(bytes).map_err(|_| {
        codec_error(format!(
            "{type_name}: expected 8 bytes, found {}",
            bytes.len()
        ))
    })
}

// Kafka's LongSerializer writes big-endian: a count written here reads as a Long there.
#[expect(
    clippy::big_endian_bytes,
    reason = "Kafka's LongSerializer is big-endian"
)]
impl Codec for u64 {
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.to_be_bytes());
    }

    fn decode(bytes: &[u8]) -> Result<Self> {
        Ok(u64::from_be_bytes(eight_bytes(bytes, "u64")?))
    }
}

#[expect(
    clippy::big_endian_bytes,
    reason = "Kafka's LongSerializer is big-endian"
)]
impl Codec for i64 {
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.to_be_bytes());
    }

    fn decode(bytes: &[u8]) -> Result<Self> {
        Ok(i64::from_be_bytes(eight_bytes(bytes, "i64")?))
    }
}

/// No bytes: a stream whose keys (or values) do not matter. Decoding ignores whatever bytes
/// there are, so `()` reads the keys of any topic that a topology does not look at
/// (Kafka's `VoidDeserializer` would refuse them). Encoding writes no key or no value at
/// all ([`Codec::is_absent`]).
impl Codec for () {
    fn encode(&self, _out: &mut Vec<u8>) {}

    fn decode(_bytes: &[u8]) -> Result<Self> {
        Ok(())
    }

    fn is_absent(&self) -> bool {
        true
    }
}

/// A value carried as serde JSON.
///
/// Dereferences to the `T` inside, so that closures read its fields directly.
///
/// # Examples
///
/// ```
/// use serde::{Deserialize, Serialize};
/// use strom::streams::{Codec, Json};
///
/// #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
/// struct Tx { kind: String, amount: f64 }
///
/// let tx = Json(Tx { kind: "withdrawal".into(), amount: 250.0 });
/// assert_eq!(tx.kind, "withdrawal"); // through Deref
///
/// let mut bytes = Vec::new();
/// tx.encode(&mut bytes);
/// assert_eq!(bytes, br#"{"kind":"withdrawal","amount":250.0}"#);
/// assert_eq!(Json::<Tx>::decode(&bytes)?, tx);
/// # Ok::<(), strom::Error>(())
/// ```
#[derive(Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Json<T>(pub T);

impl<T> Json<T> {
    /// The value inside.
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> Deref for Json<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T> DerefMut for Json<T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.0
    }
}

impl<T: fmt::Debug> fmt::Debug for Json<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Json").field(&self.0).finish()
    }
}

impl<T> Codec for Json<T>
where
    T: Serialize + DeserializeOwned + Clone + Send + Sync + 'static,
{
    /// Appends the JSON text of the value; a value its `Serialize` implementation refuses
    /// is written as no bytes (see [`try_encode`](Codec::try_encode), which topologies use
    /// and which reports it).
    fn encode(&self, out: &mut Vec<u8>) {
        // The refusal cannot be reported from here; `try_encode` leaves `out` as it was.
        let _refused = self.try_encode(out);
    }

    fn try_encode(&self, out: &mut Vec<u8>) -> Result<()> {
        let before = out.len();
        serde_json::to_writer(&mut *out, &self.0).map_err(|source| {
            // A failed serialization may have written half a value; take it back.
            out.truncate(before);
            Error::Serde {
                context: format!("JSON value of type {}", std::any::type_name::<T>()),
                source,
            }
        })
    }

    fn decode(bytes: &[u8]) -> Result<Self> {
        serde_json::from_slice(bytes)
            .map(Json)
            .map_err(|source| Error::Serde {
                context: format!("JSON value of type {}", std::any::type_name::<T>()),
                source,
            })
    }
}

/// A key of a windowed aggregation: the record key and the window it was counted in,
/// `[start_ms, end_ms)` for time windows, `[start_ms, end_ms]` for session windows.
///
/// Encoded as Kafka's `TimeWindowedSerializer` does: the key's bytes, then `start_ms` as 8
/// bytes big-endian. The end is not in the bytes: [`Codec::decode`] cannot know the
/// window's size, so it sets `end_ms` to `i64::MAX` (as Kafka's `TimeWindowedDeserializer`
/// does when it is given no window size); [`Windowed::decode_with_size`] recovers it, and
/// windowed stores and tables, which know their windows, decode through it.
///
/// # Examples
///
/// ```
/// use strom::streams::{Codec, Windowed};
///
/// let w = Windowed { key: "a".to_string(), start_ms: 1000, end_ms: 2000 };
/// let mut bytes = Vec::new();
/// w.encode(&mut bytes);
/// assert_eq!(bytes, [0x61, 0, 0, 0, 0, 0, 0, 0x03, 0xe8]);
/// assert_eq!(Windowed::<String>::decode_with_size(&bytes, 1000)?, w);
/// assert_eq!(Windowed::<String>::decode(&bytes)?.end_ms, i64::MAX);
/// # Ok::<(), strom::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Windowed<K> {
    /// The record key.
    pub key: K,
    /// Where the window starts, ms since the epoch (inclusive).
    pub start_ms: i64,
    /// Where the window ends, ms since the epoch: exclusive for time windows, inclusive (the
    /// last record's timestamp) for session windows.
    pub end_ms: i64,
}

impl<K: Codec> Windowed<K> {
    /// Decodes a windowed key of a time window of `size_ms`: `end_ms` is `start_ms +
    /// size_ms`, or `i64::MAX` if that overflows (as Kafka's `TimeWindowedDeserializer`).
    ///
    /// # Errors
    ///
    /// [`Error::Serde`] when there are fewer than 8 bytes, or the key does not decode.
    #[expect(
        clippy::big_endian_bytes,
        reason = "Kafka's window start is big-endian"
    )]
    pub fn decode_with_size(bytes: &[u8], size_ms: i64) -> Result<Self> {
        let Some(split) = bytes.len().checked_sub(8) else {
            return Err(codec_error(format!(
                "Windowed: expected a key and an 8-byte window start, found {} bytes",
                bytes.len()
            )));
        };
        let (key, start) = bytes.split_at(split);
        let start_ms = i64::from_be_bytes(eight_bytes(start, "Windowed start")?);
        Ok(Windowed {
            key: K::decode(key)?,
            start_ms,
            end_ms: start_ms.checked_add(size_ms).unwrap_or(i64::MAX),
        })
    }
}

impl<K: Codec> Codec for Windowed<K> {
    #[expect(
        clippy::big_endian_bytes,
        reason = "Kafka's window start is big-endian"
    )]
    fn encode(&self, out: &mut Vec<u8>) {
        self.key.encode(out);
        out.extend_from_slice(&self.start_ms.to_be_bytes());
    }

    #[expect(
        clippy::big_endian_bytes,
        reason = "Kafka's window start is big-endian"
    )]
    fn try_encode(&self, out: &mut Vec<u8>) -> Result<()> {
        self.key.try_encode(out)?;
        out.extend_from_slice(&self.start_ms.to_be_bytes());
        Ok(())
    }

    /// Decodes with an unknown window size: `end_ms` is `i64::MAX`. See
    /// [`Windowed::decode_with_size`].
    fn decode(bytes: &[u8]) -> Result<Self> {
        // `start + (MAX - start)` cannot overflow: the end comes out as i64::MAX for any start.
        Self::decode_with_size(bytes, 0).map(|w| Windowed {
            end_ms: i64::MAX,
            ..w
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde::Deserialize;

    fn bytes_of<C: Codec>(value: &C) -> Vec<u8> {
        let mut out = Vec::new();
        value.encode(&mut out);
        out
    }

    fn context_of(err: &Error) -> String {
        match err {
            Error::Serde { context, .. } => context.clone(),
            other => panic!("expected Error::Serde, got {other:?}"),
        }
    }

    #[test]
    fn longs_are_kafka_big_endian() {
        assert_eq!(bytes_of(&-1_i64), [0xff; 8]);
        assert_eq!(bytes_of(&1_i64), [0, 0, 0, 0, 0, 0, 0, 1]);
        assert_eq!(bytes_of(&258_u64), [0, 0, 0, 0, 0, 0, 1, 2]);
        assert_eq!(bytes_of(&i64::MIN), [0x80, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(u64::decode(&[0xff; 8]).unwrap(), u64::MAX);
    }

    #[test]
    fn longs_need_exactly_eight_bytes() {
        for len in [0, 1, 7, 9, 16] {
            let err = u64::decode(&vec![0; len]).unwrap_err();
            assert_eq!(
                context_of(&err),
                format!("u64: expected 8 bytes, found {len}")
            );
            assert!(i64::decode(&vec![0; len]).is_err());
        }
    }

    #[test]
    fn strings_are_utf8_and_refuse_invalid_bytes() {
        assert_eq!(bytes_of(&"héllo".to_string()), "héllo".as_bytes());
        let err = String::decode(b"ab\xffcd").unwrap_err();
        assert_eq!(context_of(&err), "String: invalid UTF-8 at byte 2");
        assert!(err.to_string().contains("invalid UTF-8"));
    }

    #[test]
    fn unit_is_absent_and_reads_anything() {
        assert!(bytes_of(&()).is_empty());
        assert!(().is_absent());
        assert!(!0_u64.is_absent());
        assert!(<()>::decode(b"whatever").is_ok());
    }

    #[test]
    fn windowed_is_key_then_big_endian_start() {
        let w = Windowed {
            key: "a".to_string(),
            start_ms: 1000,
            end_ms: 2000,
        };
        assert_eq!(bytes_of(&w), [0x61, 0, 0, 0, 0, 0, 0, 0x03, 0xe8]);
        assert_eq!(
            Windowed::<String>::decode_with_size(&bytes_of(&w), 1000).unwrap(),
            w
        );
        let unknown = Windowed::<String>::decode(&bytes_of(&w)).unwrap();
        assert_eq!((unknown.start_ms, unknown.end_ms), (1000, i64::MAX));
        // A window at the far end of time saturates as Kafka's does.
        let far = Windowed {
            key: 7_u64,
            start_ms: i64::MAX - 1,
            end_ms: i64::MAX,
        };
        assert_eq!(
            Windowed::<u64>::decode_with_size(&bytes_of(&far), 1000).unwrap(),
            far
        );
    }

    #[test]
    fn windowed_refuses_short_input_and_bad_keys() {
        for len in 0..8 {
            let err = Windowed::<String>::decode(&vec![0; len]).unwrap_err();
            assert!(context_of(&err).contains("8-byte window start"), "{err}");
        }
        // The key of a Windowed<u64> must itself be 8 bytes.
        assert!(Windowed::<u64>::decode(&[0; 12]).is_err());
        assert!(Windowed::<String>::decode(b"\xff\0\0\0\0\0\0\0\0").is_err());
    }

    #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
    struct Tx {
        user: String,
        amount: f64,
    }

    #[test]
    fn json_round_trips_and_refuses_invalid_text() {
        let tx = Json(Tx {
            user: "u1".into(),
            amount: 2.5,
        });
        assert_eq!(bytes_of(&tx), br#"{"user":"u1","amount":2.5}"#);
        assert_eq!(Json::<Tx>::decode(&bytes_of(&tx)).unwrap(), tx);
        let err = Json::<Tx>::decode(b"{\"user\":").unwrap_err();
        assert!(context_of(&err).contains("JSON value of type"), "{err}");
        assert!(Json::<Tx>::decode(br#"{"user":1,"amount":2}"#).is_err());
    }

    #[test]
    fn json_refusal_leaves_the_buffer_as_it_was() {
        use std::collections::HashMap;
        // serde_json refuses maps whose keys are not strings.
        let value = Json(HashMap::from([((1_u8, 2_u8), 3_u8)]));
        let mut out = b"kept".to_vec();
        assert!(matches!(
            value.try_encode(&mut out),
            Err(Error::Serde { .. })
        ));
        assert_eq!(out, b"kept");
        value.encode(&mut out);
        assert_eq!(out, b"kept");
    }

    #[test]
    fn json_derefs_mutably() {
        let mut tx = Json(Tx {
            user: "u".into(),
            amount: 1.0,
        });
        tx.amount += 1.0;
        assert!((tx.into_inner().amount - 2.0).abs() < f64::EPSILON);
    }

    fn round_trip<C: Codec + PartialEq + fmt::Debug>(value: &C) {
        let mut out = Vec::new();
        value.try_encode(&mut out).unwrap();
        assert_eq!(&C::decode(&out).unwrap(), value);
    }

    proptest! {
        #[test]
        fn every_codec_round_trips(
            text in ".*",
            raw in proptest::collection::vec(any::<u8>(), 0..64),
            unsigned in any::<u64>(),
            signed in any::<i64>(),
            // Quarters: exact in binary, so the JSON text parses back to the same f64.
            amount in (-1_000_000_i32..1_000_000).prop_map(|n| f64::from(n) / 4.0),
            start in any::<i64>(),
            size in 1_i64..i64::MAX,
        ) {
            round_trip(&text);
            round_trip(&raw);
            round_trip(&unsigned);
            round_trip(&signed);
            round_trip(&());
            round_trip(&Json(Tx { user: text.clone(), amount }));
            let w = Windowed { key: text, start_ms: start, end_ms: start.checked_add(size).unwrap_or(i64::MAX) };
            let mut out = Vec::new();
            w.encode(&mut out);
            prop_assert_eq!(Windowed::<String>::decode_with_size(&out, size).unwrap(), w);
        }

        #[test]
        fn decoding_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..32)) {
            let _ = String::decode(&bytes);
            let _ = u64::decode(&bytes);
            let _ = i64::decode(&bytes);
            let _ = Json::<Tx>::decode(&bytes);
            let _ = Windowed::<u64>::decode(&bytes);
            let _ = Windowed::<Json<Tx>>::decode_with_size(&bytes, i64::MAX);
        }
    }
}
