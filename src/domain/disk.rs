//! How much of the disk holding the data is free, and when that needs the owner: a full disk
//! stops every write (points, sign-ups, backups), so it is said well before.

/// Under this share free (percent), the disk needs attention.
pub const LOW_PERCENT: u64 = 15;
/// Under this share free (percent), it needs attention now: writes will soon fail.
pub const CRITICAL_PERCENT: u64 = 5;

/// The space of the filesystem that holds the data directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Space {
    /// Bytes the server can still write.
    pub free: u64,
    /// The filesystem's size in bytes.
    pub total: u64,
}

impl Space {
    /// Whether less than `percent` of the filesystem is free (a size of 0 is never under).
    pub fn under(&self, percent: u64) -> bool {
        u128::from(self.free) * 100 < u128::from(self.total) * u128::from(percent)
    }

    /// The share free, in whole percent rounded down (0 for a size of 0).
    pub fn free_percent(&self) -> u64 {
        match self.total {
            0 => 0,
            total => {
                let p = u128::from(self.free) * 100 / u128::from(total);
                u64::try_from(p).unwrap_or(100)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn under_is_strict_and_exact_at_large_sizes() {
        let at = |free, total| Space { free, total };
        assert!(!at(15, 100).under(LOW_PERCENT), "15% free is not under 15%");
        assert!(at(14, 100).under(LOW_PERCENT));
        assert!(!at(5, 100).under(CRITICAL_PERCENT));
        assert!(at(4, 100).under(CRITICAL_PERCENT));
        let big = u64::MAX / 100 * 100;
        assert!(!at(big / 100 * 15, big).under(LOW_PERCENT), "no overflow");
        assert!(at(big / 100 * 15 - 1, big).under(LOW_PERCENT));
        assert!(
            !at(0, 0).under(LOW_PERCENT),
            "an empty filesystem is not judged"
        );
    }

    #[test]
    fn free_percent_rounds_down() {
        assert_eq!(
            Space {
                free: 149,
                total: 1000
            }
            .free_percent(),
            14
        );
        assert_eq!(
            Space {
                free: 1000,
                total: 1000
            }
            .free_percent(),
            100
        );
        assert_eq!(Space { free: 0, total: 0 }.free_percent(), 0);
    }
}
