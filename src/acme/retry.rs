//! How long to wait after a failed certificate order before placing the next one.
//!
//! Let's Encrypt allows 5 failed validations per name per account per hour; an owner who hits
//! that limit cannot get a certificate until the hour has passed, however quickly the DNS is
//! fixed. The schedule keeps failed orders to at most 4 in any hour, and never spaces them
//! more than half an hour apart, so a fix is picked up soon.

use std::time::Duration;

const MINUTE: Duration = Duration::from_secs(60);

/// The wait before the next order, after `failures` orders in a row have failed (at least 1):
/// 1 minute, 5 minutes, then every 30 minutes.
pub fn delay_after(failures: u32) -> Duration {
    match failures {
        0 | 1 => MINUTE,
        2 => 5 * MINUTE,
        _ => 30 * MINUTE,
    }
}

/// A factor applied to the schedule, for tests only: production always runs at 1.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scale(f64);

impl Scale {
    /// The schedule as written.
    pub const REAL: Scale = Scale(1.0);

    /// A factor in (0, 1]: a test may shorten the schedule, never lengthen it.
    pub fn parse(raw: &str) -> Result<Scale, String> {
        match raw.trim().parse::<f64>() {
            Ok(f) if f > 0.0 && f <= 1.0 => Ok(Scale(f)),
            _ => Err(format!(
                "--acme-retry-scale {raw:?} is not a number greater than 0 and at most 1"
            )),
        }
    }

    /// `d` under this factor.
    pub fn apply(self, d: Duration) -> Duration {
        d.mul_f64(self.0)
    }
}

impl Default for Scale {
    fn default() -> Self {
        Scale::REAL
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// When each of `n` orders starts if every one fails at once.
    fn order_times(n: u32) -> Vec<Duration> {
        let mut at = Duration::ZERO;
        let mut times = vec![at];
        for failures in 1..n {
            at += delay_after(failures);
            times.push(at);
        }
        times
    }

    #[test]
    fn the_schedule_is_one_minute_five_minutes_then_every_half_hour() {
        let delays: Vec<u64> = (1..=6).map(|n| delay_after(n).as_secs() / 60).collect();
        assert_eq!(delays, [1, 5, 30, 30, 30, 30]);
    }

    #[test]
    fn never_more_than_four_orders_in_any_sixty_minute_window() {
        let times = order_times(200);
        for (i, start) in times.iter().enumerate() {
            // A closed window: an order exactly 60 minutes later still counts.
            let within = times[i..]
                .iter()
                .take_while(|t| **t - *start <= 60 * MINUTE)
                .count();
            assert!(within <= 4, "{within} orders in the hour from {start:?}");
        }
    }

    #[test]
    fn a_fixed_dns_is_tried_within_half_an_hour() {
        assert!((1..1000).all(|n| delay_after(n) <= 30 * MINUTE));
    }

    #[test]
    fn the_scale_shortens_only() {
        let s = Scale::parse("0.1").unwrap_or_default();
        assert_eq!(s.apply(MINUTE), Duration::from_secs(6));
        assert_eq!(Scale::REAL.apply(MINUTE), MINUTE);
        for bad in ["0", "-1", "2", "NaN", "inf", "fast", ""] {
            assert!(Scale::parse(bad).is_err(), "{bad}");
        }
    }
}
