//! FealTY: a loyalty scheme in one binary.

pub mod clock;
pub mod crypto;
pub mod domain;
pub mod storage;
