//! Replays the checked-in fuzz corpus (`fuzz/corpus/decode/`) through the same
//! check the fuzz target runs, so every input the fuzzer kept, including past
//! crashes, is a regression test under a plain `cargo test`.

#[path = "common/fuzz_check.rs"]
mod fuzz_check;

use std::fs;
use std::path::Path;

#[test]
fn fuzz_corpus_replays_cleanly() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/decode");
    assert!(
        dir.is_dir(),
        "corpus directory {} is missing",
        dir.display()
    );
    let mut files: Vec<_> = fs::read_dir(&dir)
        .expect("read corpus directory")
        .map(|entry| entry.expect("read corpus entry").path())
        .filter(|path| path.is_file())
        .collect();
    files.sort();
    assert!(
        !files.is_empty(),
        "corpus directory {} is empty",
        dir.display()
    );
    for path in &files {
        let data = fs::read(path).expect("read corpus file");
        let result = std::panic::catch_unwind(|| fuzz_check::check(&data));
        assert!(
            result.is_ok(),
            "corpus input {} fails the check",
            path.display()
        );
    }
    println!("replayed {} corpus inputs", files.len());
}
