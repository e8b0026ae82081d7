//! Fuzzes the streaming decoder: see `tests/common/fuzz_check.rs` for the
//! input layout and the properties checked. `tests/fuzz_corpus.rs` replays
//! the checked-in corpus through the same check under `cargo test`.

#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../../tests/common/fuzz_check.rs"]
mod fuzz_check;

fuzz_target!(|data: &[u8]| fuzz_check::check(data));
