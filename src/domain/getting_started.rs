//! The steps a new owner takes before the scheme is ready, and which are done.

/// One step of getting started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// The business's name (and colours, logo) replace the defaults.
    BusinessDetails,
    /// A reward customers can save up for.
    FirstReward,
    /// A member with a card.
    FirstMember,
    /// Scheduled backups, so a lost disk loses no points.
    Backups,
}

/// What the scheme already has, as far as getting started is concerned.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Checklist {
    /// The business name is no longer the default.
    pub named: bool,
    /// Rewards in the catalogue (active or not).
    pub rewards: usize,
    /// Members ever created.
    pub members: i64,
    /// Whether scheduled backups are configured.
    pub backups: bool,
}

impl Checklist {
    /// Each step in the order to take it, with whether it is done.
    pub fn steps(&self) -> [(Step, bool); 4] {
        [
            (Step::BusinessDetails, self.named),
            (Step::FirstReward, self.rewards > 0),
            (Step::FirstMember, self.members > 0),
            (Step::Backups, self.backups),
        ]
    }

    /// Whether every step is done (and the checklist can leave the dashboard).
    pub fn finished(&self) -> bool {
        self.steps().iter().all(|(_, done)| *done)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_scheme_has_every_step_to_do_and_each_is_ticked_on_its_own() {
        let mut p = Checklist::default();
        assert!(p.steps().iter().all(|(_, done)| !done));
        assert!(!p.finished());
        p.rewards = 1;
        assert_eq!(
            p.steps().map(|(_, d)| d),
            [false, true, false, false],
            "only the reward is done"
        );
        p.named = true;
        p.members = 3;
        assert!(!p.finished(), "backups are still to do");
        p.backups = true;
        assert!(p.finished());
    }
}
