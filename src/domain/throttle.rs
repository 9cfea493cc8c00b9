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
    /// Per customer, on top of [`Policy::ACCOUNT`]: a 6-digit PIN has only a million values,
    /// so guesses are also capped per day (10 a day keeps a PIN safe for decades of guessing).
    pub const MEMBER_DAY: Policy = Policy {
        free: 10,
        limit: 10,
        window: Duration::from_secs(24 * 60 * 60),
        delay: Duration::ZERO,
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

    /// Gives back one failure counted for `key` at `at_ms` (an attempt that turned out good).
    pub fn release(&mut self, key: &str, at_ms: u64) {
        if let Some(list) = self.failures.get_mut(key) {
            if let Some(i) = list.iter().rposition(|t| *t == at_ms) {
                list.remove(i);
            }
            if list.is_empty() {
                self.failures.remove(key);
            }
        }
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

/// One count an attempt is held to: a log, the key in it, and the policy.
pub type Count<'a> = (&'a mut FailureLog, &'a str, Policy);

/// Decides on an attempt held to several counts and, unless it is refused, records it as a
/// failure in each at once, before the password is checked: attempts running at the same time
/// each see the others, so the limits hold under any concurrency. A good attempt is given back
/// afterwards with [`FailureLog::release`] or [`FailureLog::clear`].
pub fn reserve(counts: &mut [Count<'_>], now_ms: u64) -> Verdict {
    let verdict = counts
        .iter_mut()
        .map(|(log, key, policy)| log.check(key, now_ms, *policy))
        .fold(Verdict::Allow, stricter);
    if !matches!(verdict, Verdict::Refuse(_)) {
        for (log, key, _) in counts.iter_mut() {
            log.fail(key, now_ms);
        }
    }
    verdict
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
    fn reserved_attempts_count_before_they_are_checked() {
        let p = Policy::ACCOUNT;
        let mut account = FailureLog::default();
        let mut address = FailureLog::default();
        let attempt = |acc: &mut FailureLog, addr: &mut FailureLog, now| {
            reserve(
                &mut [(acc, "ann", p), (addr, "10.0.0.1", Policy::ADDRESS)],
                now,
            )
        };
        let let_through = (0..8)
            .filter(|_| !matches!(attempt(&mut account, &mut address, 0), Verdict::Refuse(_)))
            .count();
        assert_eq!(let_through, p.limit);
        account.release("ann", 0);
        assert!(!matches!(
            attempt(&mut account, &mut address, 1),
            Verdict::Refuse(_)
        ));
        assert!(matches!(
            attempt(&mut account, &mut address, 2),
            Verdict::Refuse(_)
        ));
    }

    #[test]
    fn a_customer_gets_ten_failures_a_day_however_they_are_spread() {
        let mut account = FailureLog::default();
        let mut day = FailureLog::default();
        let quarter_hour = millis(Policy::ACCOUNT.window);
        let mut let_through = 0;
        // Four guesses every quarter of an hour stay under the 15-minute limit all day long.
        for slot in 0..96 {
            for i in 0..4 {
                let now = slot * quarter_hour + i;
                let counts: &mut [Count<'_>] = &mut [
                    (&mut account, "m", Policy::ACCOUNT),
                    (&mut day, "m", Policy::MEMBER_DAY),
                ];
                if !matches!(reserve(counts, now), Verdict::Refuse(_)) {
                    let_through += 1;
                }
            }
        }
        assert_eq!(let_through, Policy::MEMBER_DAY.limit);
    }

    #[test]
    fn the_stricter_verdict_wins() {
        let d = Verdict::Delay(Duration::from_secs(1));
        let r = Verdict::Refuse(Duration::from_secs(5));
        assert_eq!(stricter(Verdict::Allow, d), d);
        assert_eq!(stricter(d, r), r);
    }
}
