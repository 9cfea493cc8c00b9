//! Slowing and then refusing repeated failed log-ins, per account and per client address.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

/// How many failures are tolerated, and how they are answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// Failures answered at full speed.
    pub free: usize,
    /// Failures in the window after which attempts are refused.
    pub limit: usize,
    /// How long a failure counts.
    pub window: Duration,
    /// The pause before answering each attempt past the free ones.
    pub delay: Duration,
}

impl Policy {
    /// Per account: 5 failures in 15 minutes lock it for the rest of the window.
    pub const ACCOUNT: Policy = Policy {
        free: 3,
        limit: 5,
        window: Duration::from_secs(15 * 60),
        delay: Duration::from_secs(1),
    };
    /// Per client address: more room, since several people may share one.
    pub const ADDRESS: Policy = Policy {
        free: 3,
        limit: 20,
        window: Duration::from_secs(15 * 60),
        delay: Duration::from_secs(1),
    };
}

/// What to do with a log-in attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Check the password now.
    Allow,
    /// Check it after this pause.
    Delay(Duration),
    /// Refuse without checking; try again after this long.
    Refuse(Duration),
}

/// The most keys remembered; beyond it the oldest are forgotten so a flood cannot fill memory.
const MAX_KEYS: usize = 50_000;

/// Recent failures per key, as milliseconds on a monotonic clock.
#[derive(Debug, Default)]
pub struct FailureLog {
    failures: HashMap<String, VecDeque<u64>>,
}

impl FailureLog {
    /// Decides on an attempt for `key` at `now_ms`.
    pub fn check(&mut self, key: &str, now_ms: u64, policy: Policy) -> Verdict {
        let window = millis(policy.window);
        let Some(list) = self.failures.get_mut(key) else {
            return Verdict::Allow;
        };
        while list
            .front()
            .is_some_and(|t| now_ms.saturating_sub(*t) >= window)
        {
            list.pop_front();
        }
        if list.len() >= policy.limit {
            let oldest_relevant = list[list.len() - policy.limit];
            let wait = window.saturating_sub(now_ms.saturating_sub(oldest_relevant));
            return Verdict::Refuse(Duration::from_millis(wait.max(1000)));
        }
        if list.len() >= policy.free {
            return Verdict::Delay(policy.delay);
        }
        Verdict::Allow
    }

    /// Records a failure for `key`.
    pub fn fail(&mut self, key: &str, now_ms: u64) {
        if self.failures.len() >= MAX_KEYS && !self.failures.contains_key(key) {
            self.forget_oldest();
        }
        self.failures
            .entry(key.to_owned())
            .or_default()
            .push_back(now_ms);
    }

    /// Forgets `key`'s failures after a successful log-in.
    pub fn clear(&mut self, key: &str) {
        self.failures.remove(key);
    }

    fn forget_oldest(&mut self) {
        let oldest = self
            .failures
            .iter()
            .min_by_key(|(_, l)| l.back().copied().unwrap_or(0))
            .map(|(k, _)| k.clone());
        if let Some(k) = oldest {
            self.failures.remove(&k);
        }
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// The stricter of two verdicts.
pub fn stricter(a: Verdict, b: Verdict) -> Verdict {
    match (a, b) {
        (Verdict::Refuse(x), Verdict::Refuse(y)) => Verdict::Refuse(x.max(y)),
        (r @ Verdict::Refuse(_), _) | (_, r @ Verdict::Refuse(_)) => r,
        (Verdict::Delay(x), Verdict::Delay(y)) => Verdict::Delay(x.max(y)),
        (d @ Verdict::Delay(_), _) | (_, d @ Verdict::Delay(_)) => d,
        _ => Verdict::Allow,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_slow_then_refuse_then_expire() {
        let p = Policy::ACCOUNT;
        let mut log = FailureLog::default();
        for i in 0..3 {
            assert_eq!(log.check("ann", i, p), Verdict::Allow);
            log.fail("ann", i);
        }
        assert_eq!(log.check("ann", 10, p), Verdict::Delay(p.delay));
        log.fail("ann", 10);
        log.fail("ann", 11);
        assert!(matches!(log.check("ann", 12, p), Verdict::Refuse(_)));
        assert_eq!(
            log.check("bob", 12, p),
            Verdict::Allow,
            "other keys unaffected"
        );
        let later = millis(p.window) + 20;
        assert_eq!(log.check("ann", later, p), Verdict::Allow);
    }

    #[test]
    fn success_clears_the_count() {
        let mut log = FailureLog::default();
        for i in 0..5 {
            log.fail("ann", i);
        }
        log.clear("ann");
        assert_eq!(log.check("ann", 6, Policy::ACCOUNT), Verdict::Allow);
    }

    #[test]
    fn the_stricter_verdict_wins() {
        let d = Verdict::Delay(Duration::from_secs(1));
        let r = Verdict::Refuse(Duration::from_secs(5));
        assert_eq!(stricter(Verdict::Allow, d), d);
        assert_eq!(stricter(d, r), r);
    }
}
