//! Unit tests of the batch format: round trips, exact bytes, corruption, arbitrary input.
use super::*;
use proptest::collection::vec;
use proptest::prelude::*;

/// An owned record: timestamp, key, value, headers.
type Owned = (
    i64,
    Option<Vec<u8>>,
    Option<Vec<u8>>,
    Vec<(String, Vec<u8>)>,
);

fn rec(ts: i64, key: Option<&[u8]>, value: Option<&[u8]>, hdrs: &[(&str, &[u8])]) -> Owned {
    let hdrs = hdrs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.to_vec()))
        .collect();
    (ts, key.map(<[u8]>::to_vec), value.map(<[u8]>::to_vec), hdrs)
}

fn entries<'a>(owned: &'a [Owned]) -> Vec<Entry<'a>> {
    let entry = |(timestamp, key, value, headers): &'a Owned| Entry {
        timestamp: *timestamp,
        key: key.as_deref(),
        value: value.as_deref(),
        headers,
    };
    owned.iter().map(entry).collect()
}

fn encode_vec(base: u64, owned: &[Owned]) -> Vec<u8> {
    let entries = entries(owned);
    let mut buf = vec![0; encoded_len(&entries)];
    assert_eq!(encode(&mut buf, base, &entries), Ok(buf.len()));
    buf
}

/// Encodes, checks and decodes, comparing every field.
fn roundtrip(base: u64, owned: &[Owned]) {
    let mut buf = encode_vec(base, owned);
    let len = buf.len();
    buf.extend_from_slice(&[0xAB; 9]); // bytes after the batch are not looked at
    let h = check(&buf).unwrap();
    assert_eq!(
        (h.base_offset, h.length as usize, h.version, h.attributes),
        (base, len, 1, 0)
    );
    let max = owned.iter().map(|o| o.0).max();
    let want = (owned.len(), owned[0].0, max, base + owned.len() as u64);
    assert_eq!(
        (
            h.record_count as usize,
            h.first_timestamp,
            Some(h.max_timestamp),
            h.next_offset()
        ),
        want
    );
    let got: Vec<RecordRef> = records(&buf).unwrap().collect::<Result<_, _>>().unwrap();
    assert_eq!(
        (got.len(), got.last().map(|r| r.offset)),
        (owned.len(), Some(h.last_offset()))
    );
    for (i, (r, (ts, key, value, hdrs))) in got.iter().zip(owned).enumerate() {
        assert_eq!((r.offset, r.timestamp), (base + i as u64, *ts));
        assert_eq!(r.key.clone().map(|k| &buf[k]), key.as_deref());
        assert_eq!(r.value.clone().map(|v| &buf[v]), value.as_deref());
        let want = hdrs.iter().map(|(k, v)| (k.as_bytes(), &v[..]));
        assert!(headers(&buf[r.headers.clone()], r.header_count).eq(want));
    }
}

/// Runs every reader over arbitrary bytes: no panic, and every range is in bounds.
fn exercise(bytes: &[u8], count: u32) {
    let _ = (read_header(bytes), check(bytes));
    for r in records(bytes).into_iter().flatten().flatten() {
        let ranges = [r.key, r.value, Some(r.headers.clone())];
        assert!(ranges
            .iter()
            .flatten()
            .all(|x| x.start <= x.end && x.end <= bytes.len()));
        assert!(headers(&bytes[r.headers], r.header_count).count() <= r.header_count as usize);
    }
    assert!(headers(bytes, count).count() <= count as usize);
}

fn sample() -> Vec<Owned> {
    vec![
        rec(
            1_700_000_000_123,
            Some(b"key"),
            Some(b"value"),
            &[("trace", b"abc"), ("ключ", b"")],
        ),
        rec(1_699_999_999_000, None, None, &[("", b"x")]),
        rec(1_700_000_000_500, Some(b""), Some(b""), &[]),
    ]
}

/// Recomputes the checksum after a test edits a batch.
fn reseal(buf: &mut [u8]) {
    let crc = checksum(&buf[..8], &buf[CRC_START..]);
    buf[12..16].copy_from_slice(&crc.to_le_bytes());
}

#[test]
fn roundtrips() {
    roundtrip(0, &[rec(5, Some(b"k"), Some(b"v"), &[])]);
    roundtrip(7, &sample());
    let keys: Vec<[u8; 4]> = (0..1000u32).map(u32::to_le_bytes).collect();
    let key = |i: usize| (!i.is_multiple_of(3)).then_some(&keys[i][..]);
    let many: Vec<Owned> = (0..1000)
        .zip((-3..4).cycle())
        .map(|(i, t)| rec(t * 1000, key(i), Some(&[7; 100]), &[]))
        .collect();
    roundtrip(123_456_789, &many);
    let ts = [i64::MAX, i64::MIN, 0, -1, i64::MIN, i64::MAX, 1];
    roundtrip(u64::MAX - 7, &ts.map(|t| rec(t, None, Some(b"x"), &[])));
    roundtrip(1, &ts.map(|t| rec(t, None, Some(b"x"), &[]))[1..]);
}

#[test]
fn null_is_not_empty() {
    let buf = encode_vec(7, &sample());
    let got: Vec<_> = records(&buf).unwrap().map(Result::unwrap).collect();
    assert_eq!((got[1].key.clone(), got[1].value.clone()), (None, None));
    assert!(got[2].key.as_ref().is_some_and(Range::is_empty));
    assert!(got[2].value.as_ref().is_some_and(Range::is_empty));
}

#[test]
fn large_values() {
    let big = vec![0x5A; 1 << 20];
    let one = rec(
        3,
        Some(&big[..70_000]),
        Some(&big),
        &[("h", &big[..200_000])],
    );
    roundtrip(9, &[one.clone(), rec(4, None, Some(&big), &[]), one]);
}

#[test]
fn encode_errors() {
    assert_eq!(encode(&mut [0; 100], 0, &[]), Err(EncodeError::Empty));
    let owned = sample();
    let len = encoded_len(&entries(&owned));
    for n in 0..len {
        let err = encode(&mut vec![0; n], 0, &entries(&owned));
        assert_eq!(err, Err(EncodeError::BufferTooSmall { needed: len }));
    }
    let mut buf = vec![0; len + 5];
    assert_eq!(
        encode(&mut buf, u64::MAX - 2, &entries(&owned)),
        Err(EncodeError::TooLarge)
    );
    assert_eq!(encode(&mut buf, u64::MAX - 3, &entries(&owned)), Ok(len));
}

#[test]
fn golden_bytes() {
    let owned = [
        rec(1000, Some(b"k"), Some(b"v"), &[]),
        rec(999, None, None, &[("h", b"x")]),
    ];
    let mut want = vec![5, 0, 0, 0, 0, 0, 0, 0, 60, 0, 0, 0, 0x84, 0x8c, 0x9e, 0x52];
    want.extend_from_slice(&[1, 0, 0, 0, 2, 0, 0, 0]);
    want.extend_from_slice(&[0xe8, 3, 0, 0, 0, 0, 0, 0, 0xe8, 3, 0, 0, 0, 0, 0, 0]);
    want.extend_from_slice(&[8, 0, 0, 0, 2, b'k', 2, b'v', 0]);
    want.extend_from_slice(&[10, 0, 1, 1, 1, 1, 1, 1, b'h', 1, b'x']);
    assert_eq!(encode_vec(5, &owned), want);
    assert_eq!(crc32fast::hash(b"123456789"), 0xCBF4_3926);
}

#[test]
fn varints_and_zigzag() {
    for v in (0..64)
        .flat_map(|s| [(1u64 << s) - 1, 1 << s])
        .chain([u64::MAX])
    {
        let mut buf = [0; 10];
        let mut w = Writer { rest: &mut buf };
        w.varint(v).unwrap();
        let written = 10 - w.rest.len();
        let bits = 64 - (v | 1).leading_zeros();
        assert_eq!(varint_len(v), bits.div_ceil(7) as usize);
        let mut pos = 0;
        assert_eq!(
            (get_varint(&buf, &mut pos), pos, written),
            (Some(v), written, varint_len(v))
        );
    }
    let mut eleven_bits_too_many = [0xff; 10];
    eleven_bits_too_many[9] = 2;
    for bad in [
        &[0x80, 0][..],
        &[0xff; 10],
        &eleven_bits_too_many,
        &[0x80],
        &[],
    ] {
        assert_eq!(get_varint(bad, &mut 0), None);
    }
    assert_eq!(
        get_u32_varint(&[0x80, 0x80, 0x80, 0x80, 0x10], &mut 0),
        None
    );
    for n in [0, -1, 1, -2, i64::MIN, i64::MAX] {
        assert_eq!(unzigzag(zigzag(n)), n);
    }
    assert_eq!([0, -1, 1, -2].map(zigzag), [0, 1, 2, 3]);
}

#[test]
fn every_single_byte_flip_is_detected() {
    let good = encode_vec(42, &sample());
    for (i, mask) in (0..good.len()).flat_map(|i| [0x01, 0x10, 0x80, 0xff].map(|m| (i, m))) {
        let mut bad = good.clone();
        bad[i] ^= mask;
        exercise(&bad, 2);
        // The checksum covers everything but `length` (whose damage moves the checked
        // range) and itself.
        assert!(check(&bad).is_err(), "flip at byte {i} went undetected");
    }
}

#[test]
fn truncation_and_zeroed_header() {
    let good = encode_vec(42, &sample());
    for n in 0..good.len() {
        assert_eq!(check(&good[..n]), Err(DecodeError::Truncated));
        assert_eq!(records(&good[..n]).err(), Some(DecodeError::Truncated));
    }
    let length = read_header(&good[..HEADER_BYTES]).map(|h| h.length as usize);
    assert_eq!(length, Ok(good.len()));
    assert_eq!(check(&[0; 100]), Err(DecodeError::Zeroed));
    assert_eq!(read_header(&[0; 16]), Err(DecodeError::Zeroed));
    assert_eq!(records(&[0; 40]).err(), Some(DecodeError::Zeroed));
}

#[test]
fn invalid_header_fields_and_trailing_bytes() {
    let good = encode_vec(42, &sample());
    let patch = |at: usize, bytes: &[u8]| {
        let mut bad = good.clone();
        bad[at..at + bytes.len()].copy_from_slice(bytes);
        reseal(&mut bad);
        check(&bad)
    };
    assert_eq!(patch(16, &[2]), Err(DecodeError::Version(2)));
    assert_eq!(patch(8, &46u32.to_le_bytes()), Err(DecodeError::Length(46)));
    assert_eq!(patch(8, &[0; 4]), Err(DecodeError::Length(0)));
    // attributes, reserved, record_count 0 and 99, max_timestamp < first, offsets overflow
    let cases: [(usize, &[u8]); 6] = [
        (17, &[1]),
        (19, &[1]),
        (20, &[0; 4]),
        (20, &[99]),
        (32, &[0; 8]),
        (0, &[0xff; 8]),
    ];
    for (at, bytes) in cases {
        assert!(
            matches!(patch(at, bytes), Err(DecodeError::Record(_))),
            "{at}"
        );
    }
    // A checksum-valid batch with a byte after its last record.
    let mut long = encode_vec(1, &[rec(1, None, Some(b"v"), &[])]);
    long.push(0);
    long[8] += 1;
    reseal(&mut long);
    assert!(check(&long).is_ok());
    let items: Vec<_> = records(&long).unwrap().collect();
    assert_eq!(
        items,
        [Err(DecodeError::Record("bytes after the last record"))]
    );
}

fn owned_strategy() -> impl Strategy<Value = Owned> {
    let bytes = || proptest::option::of(vec(any::<u8>(), 0..300));
    let ts = prop_oneof![any::<i64>(), -1000i64..1000, Just(i64::MIN), Just(i64::MAX)];
    (
        ts,
        bytes(),
        bytes(),
        vec(("\\PC{0,8}", vec(any::<u8>(), 0..16)), 0..4),
    )
}

proptest! {
    #[test]
    fn prop_roundtrip(base in 0..u64::MAX - 64, owned in vec(owned_strategy(), 1..20)) {
        roundtrip(base, &owned);
    }

    #[test]
    fn prop_random_bytes_never_panic(bytes in vec(any::<u8>(), 0..200), count: u32) {
        exercise(&bytes, count);
    }

    #[test]
    fn prop_corrupt_records_never_panic(
        owned in vec(owned_strategy(), 1..4),
        flips in vec((any::<prop::sample::Index>(), 1..=255u8), 1..4),
    ) {
        let mut buf = encode_vec(3, &owned);
        // Corrupt only past the fixed header, so `records` (which skips the CRC) parses it.
        for (at, mask) in flips {
            let i = HEADER_BYTES + at.index(buf.len() - HEADER_BYTES);
            buf[i] ^= mask;
        }
        exercise(&buf, 4);
    }
}
