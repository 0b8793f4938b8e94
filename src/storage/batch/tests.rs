//! Unit tests of the batch format: round trips, exact bytes, corruption, arbitrary input.
#![expect(
    clippy::big_endian_bytes,
    reason = "version 2 is Kafka's big-endian RecordBatch; the tests patch its fields"
)]
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
        (base, len, 2, 0)
    );
    assert_eq!((h.origin, h.partition_leader_epoch), (Origin::NONE, 0));
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
        let want = hdrs.iter().map(|(k, v)| (k.as_bytes(), Some(&v[..])));
        assert!(headers(&buf[r.headers.clone()], r.header_count, 2).eq(want));
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
        let n = headers(&bytes[r.headers], r.header_count, 2).count();
        assert!(n <= r.header_count as usize);
    }
    for version in [1, 2] {
        assert!(headers(bytes, count, version).count() <= count as usize);
    }
    let _ = control_record(bytes);
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
    let crc = v2::checksum(buf);
    buf[17..21].copy_from_slice(&crc.to_be_bytes());
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
    roundtrip(
        i64::MAX as u64 - 6,
        &ts.map(|t| rec(t, None, Some(b"x"), &[])),
    );
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
    let last = i64::MAX as u64;
    assert_eq!(
        encode(&mut buf, last - 1, &entries(&owned)),
        Err(EncodeError::TooLarge)
    );
    assert_eq!(encode(&mut buf, last - 2, &entries(&owned)), Ok(len));
}

#[test]
fn one_record_sized_once_encodes_as_a_batch_of_one() {
    let big = vec![b'v'; 300];
    let mut owned = sample();
    owned.push(rec(1_700_000_000_000, None, Some(&big), &[]));
    for e in entries(&owned) {
        let body = body_len(&e, e.timestamp, 0);
        let len = one_record_len(body);
        assert_eq!(len, encoded_len(&[e]));
        let mut want = vec![0; len];
        let origin = Origin::transactional(7, 1);
        let from = encode_from(&mut want, 42, origin, std::iter::once(e));
        let mut got = vec![0; len];
        assert_eq!(encode_one(&mut got, 42, origin, &e, body), from);
        assert_eq!(got, want);
        for n in [0, HEADER_BYTES, len - 1] {
            assert_eq!(
                encode_one(&mut vec![0; n], 42, origin, &e, body),
                Err(EncodeError::BufferTooSmall { needed: len })
            );
        }
        assert_eq!(
            encode_one(&mut got, i64::MAX as u64 + 1, origin, &e, body),
            Err(EncodeError::TooLarge)
        );
    }
}

/// A batch laid out by hand from Kafka's specification of `RecordBatch` v2.
#[test]
fn golden_bytes() {
    let owned = [
        rec(1000, Some(b"k"), Some(b"v"), &[]),
        rec(999, None, None, &[("h", b"x")]),
    ];
    let mut want = vec![0, 0, 0, 0, 0, 0, 0, 5]; // base offset
    want.extend_from_slice(&[0, 0, 0, 69]); // batch length: 81 - 12
    want.extend_from_slice(&[0, 0, 0, 0, 2]); // leader epoch, magic
    want.extend_from_slice(&[0; 4]); // crc, below
    want.extend_from_slice(&[0, 0, 0, 0, 0, 1]); // attributes, last offset delta
    want.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0x03, 0xe8]); // base timestamp
    want.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0x03, 0xe8]); // max timestamp
    want.extend_from_slice(&[0xff; 8]); // producer id -1
    want.extend_from_slice(&[0xff; 6]); // producer epoch, base sequence -1
    want.extend_from_slice(&[0, 0, 0, 2]); // records
    want.extend_from_slice(&[16, 0, 0, 0, 2, b'k', 2, b'v', 0]);
    want.extend_from_slice(&[20, 0, 1, 2, 1, 1, 2, 2, b'h', 2, b'x']);
    let crc = crc_fast::crc32_iscsi(&want[21..]);
    want[17..21].copy_from_slice(&crc.to_be_bytes());
    assert_eq!(encode_vec(5, &owned), want);
    assert_eq!(crc_fast::crc32_iscsi(b"123456789"), 0xE306_9283);
    assert_eq!(crc32fast::hash(b"123456789"), 0xCBF4_3926);
}

#[test]
fn varints_and_zigzag() {
    for v in (0..64)
        .flat_map(|s| [(1u64 << s) - 1, 1 << s])
        .chain([u64::MAX])
    {
        let mut buf = [0; 10];
        let mut w = v2::Writer::new(&mut buf);
        w.varint(v).unwrap();
        let written = w.pos;
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
        get_len::<false>(&[0x80, 0x80, 0x80, 0x80, 0x10], &mut 0),
        None
    );
    // Version 2 lengths are zigzag `i32`s of at least 0.
    assert_eq!(
        get_len::<true>(&[0xfe, 0xff, 0xff, 0xff, 0x0f], &mut 0),
        Some(i32::MAX as u32)
    );
    assert_eq!(
        get_len::<true>(&[0x80, 0x80, 0x80, 0x80, 0x10], &mut 0),
        None
    );
    assert_eq!(get_len::<true>(&[1], &mut 0), None);
    assert_eq!(get_len::<true>(&[4], &mut 0), Some(2));
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
        // Kafka's checksum leaves out the base offset (segments check that offsets follow
        // on) and the leader epoch (not data); a damaged length moves the checked range.
        if (0..8).contains(&i) || (12..16).contains(&i) {
            continue;
        }
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
    assert_eq!(read_header(&[1; 16]), Err(DecodeError::Truncated));
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
    assert_eq!(patch(16, &[3]), Err(DecodeError::Version(3)));
    assert_eq!(patch(16, &[0]), Err(DecodeError::Version(0)));
    assert_eq!(patch(8, &55u32.to_be_bytes()), Err(DecodeError::Length(55)));
    assert_eq!(patch(8, &[0xff; 4]), Err(DecodeError::Length(u32::MAX)));
    // codec 5, delete horizon, an unknown bit, record_count 0 and 99, last offset delta
    // below the count, negative base offset, offsets past i64::MAX
    let cases: [(usize, &[u8]); 8] = [
        (22, &[5]),
        (22, &[0x40]),
        (21, &[0x80]),
        (57, &[0; 4]),
        (60, &[99]),
        (23, &[0; 4]),
        (0, &[0x80]),
        (0, &[0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]),
    ];
    for (at, bytes) in cases {
        assert!(
            matches!(patch(at, bytes), Err(DecodeError::Record(_))),
            "{at}"
        );
    }
    // A compressed batch is refused by the record reader, not the header.
    let mut zipped = good.clone();
    zipped[22] = 1;
    reseal(&mut zipped);
    assert!(check(&zipped).is_ok());
    assert!(matches!(records(&zipped), Err(DecodeError::Record(_))));
    // A record timestamp above max_timestamp.
    assert!(matches!(
        patch(35, &[0; 8]).and_then(|_| records(&{
            let mut b = good.clone();
            b[35..43].copy_from_slice(&[0; 8]);
            b
        })?
        .collect::<Result<Vec<_>, _>>()),
        Err(DecodeError::Record(_))
    ));
    // A checksum-valid batch with a byte after its last record.
    let mut long = encode_vec(1, &[rec(1, None, Some(b"v"), &[])]);
    long.push(0);
    long[11] += 1;
    reseal(&mut long);
    assert!(check(&long).is_ok());
    let items: Vec<_> = records(&long).unwrap().collect();
    assert_eq!(
        items,
        [Err(DecodeError::Record("bytes after the last record"))]
    );
}

/// Kafka's compaction leaves gaps between offsets inside a batch; its last offset delta
/// still says which offsets the batch covers.
#[test]
fn offset_gaps_inside_a_batch() {
    let owned = [
        rec(1, Some(b"a"), Some(b"1"), &[]),
        rec(2, Some(b"b"), Some(b"2"), &[]),
    ];
    let mut buf = encode_vec(10, &owned);
    // Second record's offset delta 1 -> 5, last offset delta 1 -> 7.
    let second = HEADER_BYTES + 1 + buf[HEADER_BYTES] as usize / 2;
    assert_eq!(buf[second + 3], 2);
    buf[second + 3] = 10;
    buf[23..27].copy_from_slice(&7i32.to_be_bytes());
    reseal(&mut buf);
    let h = check(&buf).unwrap();
    assert_eq!(
        (h.record_count, h.last_offset(), h.next_offset()),
        (2, 17, 18)
    );
    let offsets: Vec<u64> = records(&buf).unwrap().map(|r| r.unwrap().offset).collect();
    assert_eq!(offsets, [10, 15]);
    // Past the last offset delta, or not increasing: refused.
    for delta in [16, 0] {
        buf[second + 3] = delta;
        reseal(&mut buf);
        assert!(records(&buf).unwrap().any(|r| r.is_err()), "{delta}");
    }
}

#[test]
fn producer_fields_and_moving_a_batch() {
    let origin = Origin {
        producer_id: 77,
        producer_epoch: 3,
        base_sequence: 1000,
        transactional: true,
    };
    let owned = sample();
    let mut buf = vec![0; encoded_len(&entries(&owned))];
    encode_with(&mut buf, 5, origin, &entries(&owned)).unwrap();
    let h = check(&buf).unwrap();
    assert_eq!(
        (h.origin, h.is_transactional(), h.is_control()),
        (origin, true, false)
    );
    buf[12..16].copy_from_slice(&(-1i32).to_be_bytes());
    set_base_offset(&mut buf, 1 << 40).unwrap();
    let moved = check(&buf).unwrap();
    assert_eq!(
        (moved.base_offset, moved.partition_leader_epoch),
        (1 << 40, 0)
    );
    assert_eq!(moved.crc, h.crc);
    let first = records(&buf).unwrap().next().unwrap().unwrap();
    assert_eq!(first.offset, 1 << 40);
    assert!(set_base_offset(&mut buf, i64::MAX as u64).is_err());
    let old = v1::encode(0, &entries(&owned));
    assert_eq!(
        set_base_offset(&mut old.clone(), 9),
        Err(DecodeError::Version(1))
    );
}

#[test]
fn control_batches() {
    let origin = Origin {
        producer_id: 12,
        producer_epoch: 2,
        base_sequence: 5,
        transactional: false,
    };
    for kind in [ControlType::Commit, ControlType::Abort] {
        let marker = ControlRecord {
            kind,
            coordinator_epoch: 9,
        };
        let mut buf = [0; CONTROL_BATCH_BYTES + 3];
        assert_eq!(
            encode_control(&mut buf, 40, origin, marker, 1234),
            Ok(CONTROL_BATCH_BYTES)
        );
        let h = check(&buf).unwrap();
        assert!(h.is_control() && h.is_transactional());
        assert_eq!(
            (h.base_offset, h.next_offset(), h.record_count),
            (40, 41, 1)
        );
        assert_eq!(
            (
                h.origin.producer_id,
                h.origin.producer_epoch,
                h.origin.base_sequence
            ),
            (12, 2, -1)
        );
        assert_eq!(control_record(&buf), Ok(marker));
        let record = records(&buf).unwrap().next().unwrap().unwrap();
        let key = &buf[record.key.unwrap()];
        assert_eq!(key, [0, 0, 0, u8::from(kind == ControlType::Commit)]);
    }
    assert!(encode_control(
        &mut [0; 10],
        0,
        origin,
        ControlRecord {
            kind: ControlType::Abort,
            coordinator_epoch: 0
        },
        0
    )
    .is_err());
    let plain = encode_vec(0, &sample());
    assert_eq!(
        control_record(&plain),
        Err(DecodeError::Record("not a control batch"))
    );
}

/// Logs written before version 2 keep reading exactly, beside version 2 batches.
#[test]
fn version_1_batches_still_read() {
    let owned = sample();
    let old = v1::encode(42, &entries(&owned));
    let h = check(&old).unwrap();
    assert_eq!(
        (h.version, h.length as usize, h.next_offset()),
        (1, old.len(), 45)
    );
    assert_eq!(h.origin, Origin::NONE);
    let got: Vec<RecordRef> = records(&old).unwrap().collect::<Result<_, _>>().unwrap();
    for (i, (r, (ts, key, value, hdrs))) in got.iter().zip(&owned).enumerate() {
        assert_eq!((r.offset, r.timestamp), (42 + i as u64, *ts));
        assert_eq!(r.key.clone().map(|k| &old[k]), key.as_deref());
        assert_eq!(r.value.clone().map(|v| &old[v]), value.as_deref());
        let want = hdrs.iter().map(|(k, v)| (k.as_bytes(), Some(&v[..])));
        assert!(headers(&old[r.headers.clone()], r.header_count, 1).eq(want));
    }
    for (i, mask) in (0..old.len()).flat_map(|i| [0x01, 0x80].map(|m| (i, m))) {
        let mut bad = old.clone();
        bad[i] ^= mask;
        exercise(&bad, 2);
        assert!(check(&bad).is_err(), "v1 flip at byte {i} went undetected");
    }
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
    fn prop_roundtrip(base in 0..i64::MAX as u64 - 64, owned in vec(owned_strategy(), 1..20)) {
        roundtrip(base, &owned);
    }

    /// A batch built a record at a time (as `BatchBuilder` does) is byte for byte the one
    /// `encode` writes, and so is one whose records were moved from another batch, whose
    /// offset and timestamp deltas differ.
    #[test]
    fn prop_built_batch_is_encoded_batch(
        owned in vec(owned_strategy(), 1..20),
        skew in any::<i64>(),
        shift in 0usize..200,
    ) {
        let entries = entries(&owned);
        let first = entries[0].timestamp;
        let max = entries.iter().map(|e| e.timestamp).max().unwrap_or(first);
        let mut built = vec![0; HEADER_BYTES];
        let mut tails = Vec::new();
        for (i, e) in entries.iter().enumerate() {
            // Elsewhere: other offsets and timestamps, but the same fields from the key on.
            let start = built.len();
            let tail = push_record(&mut built, e, skew, i + shift);
            tails.push(built[tail..].to_vec());
            built.truncate(start);
            let tail = push_record(&mut built, e, first, i);
            prop_assert_eq!(&built[tail..], &tails[i][..]);
        }
        seal(&mut built, Origin::NONE, entries.len(), first, max).unwrap();
        let expected = encode_vec(0, &owned);
        prop_assert_eq!(&built, &expected);

        let mut moved = vec![0; HEADER_BYTES];
        for (i, (e, tail)) in entries.iter().zip(&tails).enumerate() {
            push_moved(&mut moved, tail, e.timestamp, first, i);
        }
        seal(&mut moved, Origin::NONE, entries.len(), first, max).unwrap();
        prop_assert_eq!(&moved, &expected);
    }

    /// The quick checks of a version 2 header take exactly the headers the full ones do.
    #[test]
    fn prop_quick_header_checks_agree_with_the_full_ones(
        base_offset in prop_oneof![any::<i64>(), -2..3i64, i64::MAX - 3..=i64::MAX],
        batch_length in prop_oneof![any::<i32>(), 50..70i32, -2..3i32, i32::MAX - 2..=i32::MAX],
        attributes in prop_oneof![any::<u16>(), 0..0x80u16],
        last_offset_delta in prop_oneof![any::<i32>(), -2..3i32, i32::MAX - 2..=i32::MAX],
        record_count in prop_oneof![any::<i32>(), -2..3i32, 1..3000i32, i32::MIN..i32::MIN + 2],
        rest in vec(any::<u8>(), HEADER_BYTES),
    ) {
        let mut head: [u8; HEADER_BYTES] = rest.try_into().unwrap();
        head[0..8].copy_from_slice(&base_offset.to_be_bytes());
        head[8..12].copy_from_slice(&batch_length.to_be_bytes());
        head[16] = v2::VERSION;
        head[21..23].copy_from_slice(&attributes.to_be_bytes());
        head[23..27].copy_from_slice(&last_offset_delta.to_be_bytes());
        head[57..61].copy_from_slice(&record_count.to_be_bytes());
        prop_assert_eq!(v2::read_header(&head), v2::checked_header(&head));
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

/// Batches of `counts` records each, back to back from offset 0 (with `gap` offsets left
/// before the batch at that index), and where each starts.
fn back_to_back(counts: &[usize], gap_before: Option<usize>) -> (Vec<u8>, Vec<usize>) {
    let (mut log, mut starts, mut base) = (Vec::new(), Vec::new(), 0);
    for (i, &n) in counts.iter().enumerate() {
        if gap_before == Some(i) {
            base += 2;
        }
        let owned: Vec<Owned> = (0..n)
            .map(|j| rec(10 + i64::try_from(j).unwrap(), None, Some(b"v"), &[]))
            .collect();
        starts.push(log.len());
        log.extend(encode_vec(base, &owned));
        base += n as u64;
    }
    (log, starts)
}

fn run_offsets(log: &[u8], until: u64) -> (Vec<u64>, (usize, u64)) {
    let first = read_header(log).unwrap();
    let mut run = run_after(log, first.length as usize, &first, until);
    let offsets = run.by_ref().map(|r| r.unwrap().offset).collect();
    (offsets, run.done())
}

#[test]
fn a_run_reads_on_through_plain_batches_and_stops_at_anything_else() {
    let (log, starts) = back_to_back(&[1, 3, 1, 1, 2], None);
    assert_eq!(
        run_offsets(&log, u64::MAX),
        ((1..8).collect(), (log.len(), 8))
    );
    // Only batches wholly below `until`.
    assert_eq!(run_offsets(&log, 5), (vec![1, 2, 3, 4], (starts[3], 5)));
    assert_eq!(run_offsets(&log, 4), (vec![1, 2, 3], (starts[2], 4)));
    // Only as far as the log goes.
    let cut = &log[..log.len() - 1];
    assert_eq!(
        run_offsets(cut, u64::MAX),
        ((1..6).collect(), (starts[4], 6))
    );
    // A gap in offsets (left to the batch-by-batch checks).
    let (gapped, gapped_starts) = back_to_back(&[1, 1, 1], Some(2));
    assert_eq!(
        run_offsets(&gapped, u64::MAX),
        (vec![1], (gapped_starts[2], 2))
    );
    // Transactional, control or compressed batches, and another version.
    for (at, value) in [(21, 0x10), (21, 0x20), (21, 0x01), (16, 1)] {
        let mut odd = log.clone();
        let field = starts[2] + at;
        if at == 21 {
            odd[field + 1] |= value;
        } else {
            odd[field] = value;
        }
        assert_eq!(run_offsets(&odd, u64::MAX), (vec![1, 2, 3], (starts[2], 4)));
    }
    // A record that does not decode ends the run, naming its batch.
    let mut malformed = log.clone();
    malformed[starts[2] + v2::HEADER_BYTES] = 0x7f;
    let first = read_header(&malformed).unwrap();
    let mut run = run_after(&malformed, starts[1], &first, u64::MAX);
    let offsets: Vec<u64> = run
        .by_ref()
        .map_while(Result::ok)
        .map(|r| r.offset)
        .collect();
    assert_eq!((offsets, run.batch_position()), (vec![1, 2, 3], starts[2]));
    assert!(run.next().is_none());
    // Log-append time is plain.
    let mut appended = log.clone();
    appended[starts[2] + 22] |= 0x08;
    assert_eq!(
        run_offsets(&appended, u64::MAX).0,
        (1..8).collect::<Vec<_>>()
    );
}

proptest! {
    /// Whatever follows a batch, a run over it never panics and ends within the bytes.
    #[test]
    fn a_run_over_arbitrary_bytes_never_panics(tail in vec(any::<u8>(), 0..400), until in any::<u64>()) {
        let (mut log, _) = back_to_back(&[1], None);
        let first = read_header(&log).unwrap();
        log.extend(tail);
        let mut run = run_after(&log, first.length as usize, &first, until);
        for _ in run.by_ref() {}
        prop_assert!(run.done().0 <= log.len());
    }
}

#[test]
fn set_producer_restamps_and_keeps_the_checksum_valid() {
    let entries = [Entry {
        timestamp: 5,
        key: Some(b"k"),
        value: Some(b"v"),
        headers: &[],
    }];
    let mut buf = vec![0; encoded_len(&entries)];
    encode(&mut buf, 3, &entries).unwrap();
    let before = check(&buf).unwrap();
    set_producer(&mut buf, 99, 2, 17).unwrap();
    let after = check(&buf).unwrap();
    assert_eq!(
        (after.origin.producer_id, after.origin.producer_epoch),
        (99, 2)
    );
    assert_eq!(after.origin.base_sequence, 17);
    assert_eq!(after.base_offset, before.base_offset);
    assert_eq!(after.record_count, before.record_count);
    // A damaged batch is refused, not given a fresh checksum.
    let last = buf.len() - 1;
    buf[last] ^= 0xff;
    assert!(set_producer(&mut buf, 1, 0, 0).is_err());
}

#[test]
fn set_producer_takes_a_batch_out_of_its_transaction() {
    let entries = [Entry {
        timestamp: 5,
        key: None,
        value: Some(b"v"),
        headers: &[],
    }];
    let mut buf = vec![0; encoded_len(&entries)];
    encode(&mut buf, 0, &entries).unwrap();
    // Mark it transactional as a transactional producer's batch is, with a valid checksum.
    let attributes = u16::from_be_bytes([buf[21], buf[22]]) | v2::TRANSACTIONAL;
    buf[21..23].copy_from_slice(&attributes.to_be_bytes());
    v2::set_checksum(&mut buf).unwrap();
    assert!(check(&buf).unwrap().is_transactional());
    set_producer(&mut buf, 8, 0, 0).unwrap();
    let after = check(&buf).unwrap();
    assert!(!after.is_transactional());
    assert_eq!(after.record_count, 1);
}
