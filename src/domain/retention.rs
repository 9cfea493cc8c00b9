//! Which backups to keep: the last N, plus the newest of each recent day and week.

use std::collections::HashSet;
use time::OffsetDateTime;

/// How many backups to keep.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// The newest N, whatever their age.
    pub last: usize,
    /// The newest of each of the last D days that have one.
    pub daily: usize,
    /// The newest of each of the last W ISO weeks that have one.
    pub weekly: usize,
}

impl Default for Retention {
    fn default() -> Self {
        Self {
            last: 7,
            daily: 7,
            weekly: 8,
        }
    }
}

impl Retention {
    /// The ids to delete from `backups` (id, creation time); the newest is never among them.
    pub fn prune(&self, backups: &[(String, OffsetDateTime)]) -> Vec<String> {
        let mut sorted: Vec<&(String, OffsetDateTime)> = backups.iter().collect();
        sorted.sort_by(|a, b| b.1.cmp(&a.1).then(b.0.cmp(&a.0)));
        let mut keep: HashSet<&str> = HashSet::new();
        if let Some(newest) = sorted.first() {
            keep.insert(&newest.0);
        }
        for b in sorted.iter().take(self.last) {
            keep.insert(&b.0);
        }
        let mut days = Vec::new();
        let mut weeks = Vec::new();
        for b in &sorted {
            let day = b.1.date();
            if days.len() < self.daily && !days.contains(&day) {
                days.push(day);
                keep.insert(&b.0);
            }
            let week = (b.1.year(), b.1.iso_week());
            if weeks.len() < self.weekly && !weeks.contains(&week) {
                weeks.push(week);
                keep.insert(&b.0);
            }
        }
        sorted
            .iter()
            .filter(|b| !keep.contains(b.0.as_str()))
            .map(|b| b.0.clone())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::Duration;

    fn at(hours_ago: i64) -> (String, OffsetDateTime) {
        let t = OffsetDateTime::UNIX_EPOCH + Duration::days(20_000) - Duration::hours(hours_ago);
        (format!("b{hours_ago:04}"), t)
    }

    #[test]
    fn keeps_the_last_the_dailies_and_the_weeklies() {
        // One backup every 6 hours for 60 days.
        let all: Vec<_> = (0..240).map(|i| at(i * 6)).collect();
        let gone = Retention {
            last: 3,
            daily: 7,
            weekly: 4,
        }
        .prune(&all);
        let kept: Vec<_> = all.iter().filter(|b| !gone.contains(&b.0)).collect();
        assert!(kept.iter().any(|b| b.0 == "b0000"), "the newest stays");
        assert!(
            kept.len() <= 3 + 7 + 4 && kept.len() >= 7,
            "kept {}",
            kept.len()
        );
        assert!(
            kept.iter().all(|b| b.0.as_str() <= "b0672"),
            "nothing older than 4 weeks stays"
        );
    }

    #[test]
    fn the_newest_is_never_pruned() {
        let all = vec![at(0), at(100)];
        assert_eq!(
            Retention {
                last: 0,
                daily: 0,
                weekly: 0
            }
            .prune(&all),
            vec!["b0100".to_owned()]
        );
    }
}
