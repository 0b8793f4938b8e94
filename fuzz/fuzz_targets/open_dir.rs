//! Arbitrary segment, index and time-index files opened by `Broker::open`; see `common.rs`.
#![no_main]
// `common.rs` holds both targets' harnesses; each target uses one.
#![allow(dead_code)]

use libfuzzer_sys::fuzz_target;

include!("../common.rs");

fuzz_target!(|data: &[u8]| open_dir(data));
