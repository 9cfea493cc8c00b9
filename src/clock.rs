//! The current time, as stored: UTC, to the millisecond.

use std::sync::atomic::{AtomicI64, Ordering};
use time::OffsetDateTime;

/// Milliseconds added to the system clock: zero, except in tests that start the server with the
/// hidden `--clock-offset` to see what it does months from now (points expiry).
static OFFSET_MS: AtomicI64 = AtomicI64::new(0);

/// Shifts every later [`now`] by `offset` (tests only, set once at start).
pub fn set_offset(offset: time::Duration) {
    let ms = i64::try_from(offset.whole_milliseconds()).unwrap_or(0);
    OFFSET_MS.store(ms, Ordering::Relaxed);
}

/// Now in UTC, truncated to milliseconds so stored times round-trip exactly through RFC 3339.
pub fn now() -> OffsetDateTime {
    let t =
        OffsetDateTime::now_utc() + time::Duration::milliseconds(OFFSET_MS.load(Ordering::Relaxed));
    t.replace_nanosecond(t.millisecond() as u32 * 1_000_000)
        .unwrap_or(t)
}
