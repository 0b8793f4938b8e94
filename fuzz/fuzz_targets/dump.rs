//! Arbitrary bytes as a segment file through `strom dump --print-data`'s text
//! (`strom_cli::dump_segment`): never a panic, and every damaged batch is marked in the text.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (text, damaged) = strom_cli::dump_segment(data, true);
    // Each damaged batch is printed `isvalid: false`; an unreadable header ends the walk.
    let invalid = text.matches("isvalid: false").count();
    let unreadable = text.matches("unreadable batch header").count();
    assert_eq!(damaged, invalid + unreadable, "{text}");
    assert!(unreadable <= 1);
});
