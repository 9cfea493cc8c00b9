//! The version line of `fealty --version`: the binary's, and the storage schema and backup
//! format it writes and reads, so an owner can tell which binaries can open which files.

use crate::backup::format::{FORMAT_VERSION, OLDEST_FORMAT_VERSION};
use crate::storage::schema::{CURRENT, OLDEST};
use std::sync::LazyLock;

/// `0.1.0 (storage schema 5, reads 1-5; backup format 2, reads 1-2)`.
pub static LINE: LazyLock<String> = LazyLock::new(|| {
    format!(
        "{} (storage schema {CURRENT}, reads {OLDEST}-{CURRENT}; backup format {FORMAT_VERSION}, reads {OLDEST_FORMAT_VERSION}-{FORMAT_VERSION})",
        env!("CARGO_PKG_VERSION")
    )
});
