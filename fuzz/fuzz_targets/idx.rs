//! The IDX reader on arbitrary bytes, raw or gzipped: any input may be an error, none may panic,
//! hang or allocate more than the input itself can fill.
//!
//! `cargo +nightly fuzz run idx` (from the repository root). The target compiles the reader's
//! two source files directly instead of depending on the crate: the crate pulls in burn, which
//! would take half an hour to build with the fuzzer's sanitizer instrumentation, while the
//! reader needs only std, flate2 and thiserror.
#![no_main]

#[allow(dead_code)]
#[path = "../../src/fsutil.rs"]
mod fsutil; // idx.rs writes files through crate::fsutil
#[allow(dead_code)]
#[path = "../../src/data/idx.rs"]
mod idx;

use std::path::Path;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let path = Path::new("fuzz-input");
    if let Ok(images) = idx::read_images_from(path, data) {
        assert_eq!(
            images.pixels.len(),
            images.count * images.rows * images.cols
        );
        if images.count > 0 {
            assert!(images.image(images.count - 1).is_some());
        }
        assert!(images.image(images.count).is_none() || images.rows * images.cols == 0);
    }
    if let Ok(labels) = idx::read_labels_from(path, data) {
        let _ = idx::check_labels(path, &labels, 9);
    }
});
