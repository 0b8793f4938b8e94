//! Choosing a partition for a record, the way Apache Kafka's Java producer does.
//!
//! A record with a key goes to `toPositive(murmur2(key)) % partitions`, bit for bit
//! what the Java client's built-in partitioner computes. That agreement is the point
//! of this module: a key lands on the same partition number here as it would in an
//! Apache Kafka cluster whose topic has the same partition count, so per-key ordering
//! and any state keyed by partition (compacted topics, Kafka Streams stores, consumers
//! that own a partition range) stay valid when an application moves its topics from
//! `strom` to a cluster, or back, without re-partitioning the data. Other Kafka
//! clients that aim for Java compatibility (librdkafka's `murmur2` partitioners,
//! franz-go's default key partitioner) use the same function, so they agree too.
//!
//! A record without a key has no partition it belongs on, so the only goals are an
//! even spread and large batches. [`StickyPartitioner`] follows the idea of Kafka's
//! uniform sticky partitioner (KIP-794): stick to one partition for about a batch's
//! worth of bytes, then move on. Unlike Kafka it moves on in plain round robin
//! rather than at random, which keeps it lock-free, deterministic and testable.

use std::sync::atomic::{AtomicU64, Ordering};

/// Bytes of keyless records sent to one partition before [`StickyPartitioner`] moves
/// on to the next: Kafka's `batch.size` default, which is also what its uniform
/// sticky partitioner uses as the switching threshold by default.
pub(crate) const STICKY_BATCH_BYTES: u64 = 16 * 1024;

/// Murmur2 seed used by Kafka (fixed; a different seed would move every key).
const SEED: u32 = 0x9747_b28c;
/// Murmur2 multiplication constant.
const M: u32 = 0x5bd1_e995;
/// Murmur2 shift constant.
const R: u32 = 24;

/// Kafka's murmur2 (32-bit) of `data`, as `org.apache.kafka.common.utils.Utils.murmur2` returns it (as i32).
///
/// Java has only signed `int`, but its `*` wraps modulo 2^32 and `>>>` is a logical
/// shift, so computing on `u32` with wrapping multiplication and `>>` yields the
/// same 32 bits; only the final reinterpretation as `i32` makes the sign visible.
pub(crate) fn murmur2(data: &[u8]) -> i32 {
    // Java takes `data.length`, an `int`. Java arrays never exceed `i32::MAX`
    // elements, so for every input a Java client can hash the length fits, and the
    // low 32 bits are exactly what Java mixes in.
    #[allow(clippy::cast_possible_truncation)]
    let length = data.len() as u32;
    let mut h = SEED ^ length;

    // Whole 4-byte blocks, little-endian. Java's `byte` is signed, so Kafka masks
    // every byte with `& 0xff` before shifting it into place; without the mask a
    // byte >= 0x80 would sign-extend and flip the higher bits. `u8` -> `u32` is a
    // zero extension, which is exactly what the mask achieves.
    let (blocks, tail) = data.as_chunks::<4>();
    for block in blocks {
        let mut k = u32::from_le_bytes(*block);
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M);
        h ^= k;
    }

    // The 1 to 3 trailing bytes. Kafka uses a falling-through `switch`: byte 2 is
    // XORed in at bit 16, byte 1 at bit 8, byte 0 at bit 0, then one multiply. Each
    // tail byte is masked with `& 0xff` there too (since Kafka's first version of
    // this function), so the tail is also read unsigned. The three XORs touch
    // disjoint bits, so they equal one XOR of the little-endian tail word.
    if !tail.is_empty() {
        let word = tail
            .iter()
            .rev()
            .fold(0_u32, |word, &byte| (word << 8) | u32::from(byte));
        h ^= word;
        h = h.wrapping_mul(M);
    }

    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;

    // Same bits, read as Java's signed `int`.
    h.cast_signed()
}

/// Kafka's `toPositive`: `n & 0x7fffffff`.
///
/// This clears the sign bit; it is not `abs`. It maps `i32::MIN` to 0 and `-1` to
/// `i32::MAX`, and that exact mapping is what places keys on partitions.
pub(crate) fn to_positive(n: i32) -> u32 {
    n.cast_unsigned() & 0x7fff_ffff
}

/// The partition Kafka's Java client picks for a keyed record: toPositive(murmur2(key)) % partitions.
/// `partitions` is never 0 here (callers validate); return 0 if it is, rather than panic.
///
/// Kafka computes the remainder on signed `int`s, but both operands are
/// non-negative there, so the unsigned remainder here is the same number.
pub(crate) fn partition_for_key(key: &[u8], partitions: u32) -> u32 {
    to_positive(murmur2(key))
        .checked_rem(partitions)
        .unwrap_or(0)
}

/// Sticky choice for records without a key: shared by all producers of a topic, lock-free.
/// Keeps sending to one partition until about `STICKY_BATCH_BYTES` have gone there, then moves on to the next
/// (like Kafka's uniform sticky partitioner, KIP-794, but deterministic round robin of "sticky batches", no randomness needed).
///
/// The only state is a running count of keyless bytes. The byte stream is cut into
/// consecutive windows of [`STICKY_BATCH_BYTES`]; window `w` belongs to partition
/// `w % partitions`, and a batch goes to the window its first byte falls in. One
/// atomic `fetch_add` both reserves the batch's bytes and decides its partition, so
/// concurrent producers never lock and never disagree.
#[derive(Debug, Default)]
pub(crate) struct StickyPartitioner {
    /// Keyless bytes handed out so far (wrapping; see [`StickyPartitioner::next`]).
    bytes_sent: AtomicU64,
}

impl StickyPartitioner {
    /// A partitioner that starts on partition 0.
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// Partition for the next keyless batch of `bytes` bytes; counts the bytes.
    ///
    /// A batch larger than the window still goes to a single partition; the windows
    /// it covers are skipped, so the spread over partitions stays even in bytes.
    /// An empty batch counts as one byte, so even a stream of empty records keeps
    /// rotating. Returns 0 if `partitions` is 0 (callers validate; no panic).
    pub(crate) fn next(&self, bytes: usize, partitions: u32) -> u32 {
        if partitions == 0 {
            return 0;
        }
        let bytes = u64::try_from(bytes).unwrap_or(u64::MAX).max(1);
        // Relaxed is enough: the counter orders nothing else, and `fetch_add` is
        // atomic on its own, so every caller gets a distinct byte range. At 2^64
        // the counter wraps (no panic); that merely restarts the rotation.
        let start = self.bytes_sent.fetch_add(bytes, Ordering::Relaxed);
        let window = start / STICKY_BATCH_BYTES;
        // The remainder is below `partitions`, so it always fits in a u32.
        u32::try_from(window % u64::from(partitions)).unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;
    use std::sync::Arc;
    use std::thread;

    /// Every vector of apache/kafka `UtilsTest.testMurmur2`
    /// (clients/src/test/java/org/apache/kafka/common/utils/UtilsTest.java):
    /// input bytes and the Java `int` that `Utils.murmur2` must return.
    const KAFKA_VECTORS: [(&[u8], i32); 6] = [
        (b"21", -973_932_308),
        (b"foobar", -790_332_482),
        (b"a-little-bit-long-string", -985_981_536),
        (b"a-little-bit-longer-string", -1_486_304_829),
        (
            b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8",
            -58_897_971,
        ),
        (b"abc", 479_470_107),
    ];

    #[test]
    fn murmur2_matches_kafka_utils_test() {
        for (input, expected) in KAFKA_VECTORS {
            assert_eq!(
                murmur2(input),
                expected,
                "murmur2({:?})",
                String::from_utf8_lossy(input)
            );
        }
    }

    /// Further vectors from confluentinc/librdkafka `src/rdmurmur2.c`
    /// (`unittest_murmur2`), whose expected values were taken from the Java
    /// client's `Utils.murmur2`; written here as the raw 32 bits. They cover every
    /// tail length (0 to 3) and the empty input.
    #[test]
    fn murmur2_matches_java_values_recorded_by_librdkafka() {
        let cases: [(&[u8], u32); 11] = [
            (b"kafka", 0xd067_cf64),
            (b"giberish123456789", 0x8f55_2b0c),
            (b"1234", 0x9fc9_7b14),
            (b"234", 0xe7c0_09ca),
            (b"34", 0x8739_30da),
            (b"4", 0x5a4b_5ca1),
            (b"PreAmbleWillBeRemoved,ThePrePartThatIs", 0x7842_4f1c),
            (b"reAmbleWillBeRemoved,ThePrePartThatIs", 0x4a62_b377),
            (b"eAmbleWillBeRemoved,ThePrePartThatIs", 0xe0e4_e09e),
            (b"AmbleWillBeRemoved,ThePrePartThatIs", 0x62b8_b43f),
            (b"", 0x106e_08d9),
        ];
        for (input, expected) in cases {
            assert_eq!(
                murmur2(input).cast_unsigned(),
                expected,
                "murmur2({:?})",
                String::from_utf8_lossy(input)
            );
        }
    }

    /// A literal model of the Java method on signed types: `i8` bytes, `i32`
    /// arithmetic that wraps, `& 0xff` on each byte, `>>>` as a logical shift.
    /// Used to check inputs with bytes >= 0x80, which none of the published
    /// vectors contain, so the sign handling is exercised.
    fn java_model(data: &[u8]) -> i32 {
        fn unsigned_shr(x: i32, n: u32) -> i32 {
            (x.cast_unsigned() >> n).cast_signed()
        }
        let bytes: Vec<i8> = data.iter().map(|b| b.cast_signed()).collect();
        let masked = |i: usize| i32::from(bytes[i]) & 0xff;
        let m = M.cast_signed();
        let length = i32::try_from(bytes.len()).expect("test inputs are small");
        let mut h = SEED.cast_signed() ^ length;
        let length = bytes.len();
        for i in 0..length / 4 {
            let i4 = i * 4;
            let mut k = masked(i4)
                .wrapping_add(masked(i4 + 1) << 8)
                .wrapping_add(masked(i4 + 2) << 16)
                .wrapping_add(masked(i4 + 3) << 24);
            k = k.wrapping_mul(m);
            k ^= unsigned_shr(k, R);
            k = k.wrapping_mul(m);
            h = h.wrapping_mul(m);
            h ^= k;
        }
        let base = length & !3;
        let rest = length % 4;
        if rest >= 3 {
            h ^= masked(base + 2) << 16;
        }
        if rest >= 2 {
            h ^= masked(base + 1) << 8;
        }
        if rest >= 1 {
            h ^= masked(base);
            h = h.wrapping_mul(m);
        }
        h ^= unsigned_shr(h, 13);
        h = h.wrapping_mul(m);
        h ^= unsigned_shr(h, 15);
        h
    }

    #[test]
    fn java_model_agrees_with_published_vectors() {
        for (input, expected) in KAFKA_VECTORS {
            assert_eq!(java_model(input), expected);
        }
    }

    #[test]
    fn murmur2_treats_high_bytes_like_java() {
        let mut inputs: Vec<Vec<u8>> = vec![
            vec![0x80],
            vec![0xff],
            vec![0xff, 0xfe],
            vec![0x80, 0x81, 0x82],
            vec![0xff; 4],
            vec![0x00, 0xff, 0x7f, 0x80, 0xc3, 0xa9],
            "Grüße, ключ, 键".as_bytes().to_vec(),
        ];
        // All byte values, at every position and tail length.
        let all: Vec<u8> = (0..=u8::MAX).collect();
        for len in 0..=all.len() {
            inputs.push(all[all.len() - len..].to_vec());
        }
        for input in &inputs {
            assert_eq!(murmur2(input), java_model(input), "input {input:?}");
        }
    }

    #[test]
    fn to_positive_clears_only_the_sign_bit() {
        assert_eq!(to_positive(0), 0);
        assert_eq!(to_positive(1), 1);
        assert_eq!(to_positive(i32::MAX), 0x7fff_ffff);
        assert_eq!(to_positive(-1), 0x7fff_ffff);
        assert_eq!(to_positive(-2), 0x7fff_fffe);
        assert_eq!(to_positive(i32::MIN), 0);
        assert_eq!(to_positive(i32::MIN + 1), 1);
        // Not abs(): -973932308 is 0xc5f2f8ec; clearing bit 31 gives 0x45f2f8ec.
        assert_eq!(to_positive(-973_932_308), 0x45f2_f8ec);
        assert_ne!(to_positive(-973_932_308), 973_932_308);
    }

    #[test]
    fn partition_for_key_follows_the_kafka_vectors() {
        for (input, hash) in KAFKA_VECTORS {
            for partitions in [1_u32, 2, 3, 7, 12, 100] {
                let expected = (hash & 0x7fff_ffff).cast_unsigned() % partitions;
                assert_eq!(partition_for_key(input, partitions), expected);
            }
        }
        // Spelled out for two of them.
        // "21": 0xc5f2f8ec -> 0x45f2f8ec = 1173551340; % 3 = 0, % 7 = 3, % 12 = 0.
        assert_eq!(partition_for_key(b"21", 3), 0);
        assert_eq!(partition_for_key(b"21", 7), 3);
        assert_eq!(partition_for_key(b"21", 12), 0);
        // "abc": 479470107 is already positive; % 3 = 0, % 7 = 4, % 12 = 3.
        assert_eq!(partition_for_key(b"abc", 3), 0);
        assert_eq!(partition_for_key(b"abc", 7), 4);
        assert_eq!(partition_for_key(b"abc", 12), 3);
    }

    /// confluentinc/librdkafka `tests/0048-partitioner.c` produces keyed messages
    /// to a real topic with 7 (quick mode) or 17 partitions and checks each lands on
    /// `toPositive(murmur2(key)) % partitions`, with the hashes printed by the Java
    /// client (`tests/java/Murmur2Cli`). A key-less or empty key hashes as `""`.
    #[test]
    fn partition_for_key_matches_librdkafka_cluster_test() {
        let cases: [(&[u8], u32); 4] = [
            (b"", 0x106e_08d9),
            (b"23456", 0x058d_780f),
            (
                b"this is another string with more length to it perhaps",
                0x4f77_03da,
            ),
            (b"hejsan", 0x5ec1_9395),
        ];
        for (key, positive_hash) in cases {
            for partitions in [7, 17] {
                assert_eq!(
                    partition_for_key(key, partitions),
                    positive_hash % partitions
                );
            }
        }
    }

    /// apache/kafka `KTableKTableForeignKeyInnerJoinMultiIntegrationTest`
    /// (streams integration tests) lists, for the string keys "0" to "9" (UTF-8
    /// bytes, as `StringSerializer` writes them), the partition out of 3 that the
    /// default murmur2 partitioner picks, "pre-computed" in its comments.
    #[test]
    fn partition_for_key_matches_kafka_streams_test_comments() {
        let expected: [u32; 10] = [2, 0, 2, 2, 1, 0, 1, 0, 0, 2];
        for (digit, partition) in (0..10).zip(expected) {
            let key = format!("{digit}");
            assert_eq!(
                partition_for_key(key.as_bytes(), 3),
                partition,
                "key {key:?}"
            );
        }
    }

    #[test]
    fn partition_for_key_is_in_range_and_zero_safe() {
        for partitions in 1..=64 {
            for i in 0..200_u32 {
                let key = format!("order-{i}");
                assert!(partition_for_key(key.as_bytes(), partitions) < partitions);
            }
        }
        assert_eq!(partition_for_key(b"abc", 0), 0);
        assert_eq!(partition_for_key(b"", 1), 0);
    }

    #[test]
    fn sticky_stays_until_a_batch_worth_of_bytes() {
        let sticky = StickyPartitioner::new();
        let first = sticky.next(100, 5);
        assert_eq!(first, 0);
        // 100 + 160 * 100 = 16_100 < 16_384: still the same partition.
        for _ in 0..160 {
            assert_eq!(sticky.next(100, 5), first);
        }
        // 16_100 + 284 = 16_384 bytes handed to partition 0 so far ...
        assert_eq!(sticky.next(284, 5), first);
        // ... so the next batch starts a new window and moves on.
        assert_eq!(sticky.next(1, 5), 1);
    }

    #[test]
    fn sticky_moves_round_robin_and_covers_all_partitions() {
        let sticky = StickyPartitioner::new();
        let batch = usize::try_from(STICKY_BATCH_BYTES).expect("fits");
        for round in 0..3 {
            for expected in 0..7 {
                assert_eq!(sticky.next(batch, 7), expected, "round {round}");
            }
        }

        // Small uneven batches: every partition is visited, each for about a
        // window's worth of bytes.
        let sticky = StickyPartitioner::new();
        let mut bytes_per_partition = [0_u64; 6];
        let mut seen = BTreeSet::new();
        for i in 0..10_000_u64 {
            let size = 50 + i % 300;
            let p = sticky.next(usize::try_from(size).expect("fits"), 6);
            seen.insert(p);
            bytes_per_partition[usize::try_from(p).expect("fits")] += size;
        }
        assert_eq!(seen, (0..6).collect());
        let min = bytes_per_partition.iter().min().copied().unwrap_or(0);
        let max = bytes_per_partition.iter().max().copied().unwrap_or(0);
        assert!(
            max - min <= 2 * STICKY_BATCH_BYTES,
            "{bytes_per_partition:?}"
        );
    }

    #[test]
    fn sticky_with_one_partition_and_odd_sizes() {
        let sticky = StickyPartitioner::new();
        for size in [0, 1, 100, 16_384, 1 << 20, usize::MAX, 7] {
            assert_eq!(sticky.next(size, 1), 0);
        }
        // Zero partitions: no panic, 0.
        assert_eq!(sticky.next(10, 0), 0);
        // Empty batches still advance, one byte each.
        let sticky = StickyPartitioner::new();
        for _ in 0..STICKY_BATCH_BYTES {
            assert_eq!(sticky.next(0, 2), 0);
        }
        assert_eq!(sticky.next(0, 2), 1);
    }

    #[test]
    fn sticky_never_out_of_range_even_with_huge_batches() {
        let sticky = StickyPartitioner::new();
        for i in 0..10_000_u32 {
            let partitions = 1 + i % 13;
            let size = if i % 17 == 0 {
                usize::MAX / 3
            } else {
                1 + (i as usize * 7919) % 70_000
            };
            assert!(sticky.next(size, partitions) < partitions);
        }
    }

    #[test]
    fn sticky_concurrent_use_stays_in_range() {
        const THREADS: u32 = 8;
        const PER_THREAD: u32 = 20_000;
        const PARTITIONS: u32 = 5;
        let sticky = Arc::new(StickyPartitioner::new());
        let handles: Vec<_> = (0..THREADS)
            .map(|t| {
                let sticky = Arc::clone(&sticky);
                thread::spawn(move || {
                    let mut seen = [0_u32; PARTITIONS as usize];
                    for i in 0..PER_THREAD {
                        let size = 1 + ((t * PER_THREAD + i) % 500) as usize;
                        let p = sticky.next(size, PARTITIONS);
                        assert!(p < PARTITIONS, "partition {p}");
                        seen[p as usize] += 1;
                    }
                    seen
                })
            })
            .collect();
        let mut total = [0_u32; PARTITIONS as usize];
        for handle in handles {
            let seen = handle.join().expect("worker thread panicked");
            for (sum, n) in total.iter_mut().zip(seen) {
                *sum += n;
            }
        }
        assert_eq!(total.iter().sum::<u32>(), THREADS * PER_THREAD);
        assert!(total.iter().all(|&n| n > 0), "{total:?}");
    }
}
