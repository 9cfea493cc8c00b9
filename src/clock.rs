//! The current time, as stored: UTC, to the millisecond.

use time::OffsetDateTime;

/// Now in UTC, truncated to milliseconds so stored times round-trip exactly through RFC 3339.
pub fn now() -> OffsetDateTime {
    let t = OffsetDateTime::now_utc();
    t.replace_nanosecond(t.millisecond() as u32 * 1_000_000)
        .unwrap_or(t)
}
