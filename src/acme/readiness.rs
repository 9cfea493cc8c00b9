//! Whether the names on the certificate lead to this server yet, from what their authoritative
//! nameservers said: the rule that decides when the first certificate order may be placed.
//!
//! Every order the CA cannot validate counts against a small hourly limit (Let's Encrypt: 5
//! failed validations per name per account per hour), so an order placed before the DNS is
//! ready does harm. A server behind 1:1 NAT never sees its public address on an interface,
//! though, so a name that resolves, but elsewhere, is trusted after a grace period.

use std::fmt;
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// How long a name may resolve to addresses not on this machine before the order goes ahead
/// anyway (the NAT case).
pub const FOREIGN_GRACE: Duration = Duration::from_secs(10 * 60);

/// An address a nameserver gave, and whether it is assigned to this machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Address {
    /// The address.
    pub ip: IpAddr,
    /// Whether a local interface holds it.
    pub local: bool,
}

/// What one nameserver said about one name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// A and AAAA records (at least one).
    Addresses(Vec<Address>),
    /// The name is an alias (CNAME) of another, which this check does not follow.
    Alias(String),
    /// No A or AAAA record (the name is unknown, or has other records only).
    NoRecord,
    /// The server could not be asked, or its answer was unusable (says which server).
    Failed(String),
}

/// One nameserver's answer for one name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// The name on the certificate.
    pub name: String,
    /// The nameserver asked (its name, or its address when it has none).
    pub server: String,
    /// What it said.
    pub answer: Answer,
}

/// Why the order should wait, in words for the log and the dashboard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Why {
    /// A nameserver has no address for the name.
    NoRecord { name: String, server: String },
    /// No nameserver of the name could be asked.
    Unanswered { name: String, why: String },
    /// The name resolves, but not to this machine (or through an alias not followed).
    Elsewhere {
        name: String,
        server: String,
        to: String,
    },
}

impl fmt::Display for Why {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Why::NoRecord { name, server } => {
                write!(f, "{name} has no A/AAAA record at {server} yet")
            }
            Why::Unanswered { name, why } => {
                write!(f, "cannot ask the nameservers of {name}: {why}")
            }
            Why::Elsewhere { name, server, to } => {
                write!(
                    f,
                    "{name} points at {to} at {server}, which is not this machine"
                )
            }
        }
    }
}

/// What to do about the order now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Every name leads here: order.
    Ready,
    /// Every name resolves, but not (visibly) here, and has for the grace period: order, and
    /// warn with the reason (a server behind NAT never sees its public address).
    ReadyDespite(Why),
    /// Not yet, because of this.
    Wait(Why),
}

/// Remembers since when the names have resolved elsewhere, across checks.
#[derive(Debug, Default, Clone)]
pub struct Readiness {
    elsewhere_since: Option<Instant>,
}

impl Readiness {
    /// Decides from one round of findings, taken at `now`.
    pub fn decide(&mut self, findings: &[Finding], now: Instant) -> Decision {
        let mut elsewhere = None;
        for name in names(findings) {
            match judge_name(name, findings) {
                Verdict::Here => {}
                Verdict::Elsewhere(why) => {
                    elsewhere.get_or_insert(why);
                }
                Verdict::Missing(why) => {
                    self.elsewhere_since = None;
                    return Decision::Wait(why);
                }
            }
        }
        let Some(why) = elsewhere else {
            self.elsewhere_since = None;
            return Decision::Ready;
        };
        let since = *self.elsewhere_since.get_or_insert(now);
        if now.saturating_duration_since(since) >= FOREIGN_GRACE {
            Decision::ReadyDespite(why)
        } else {
            Decision::Wait(why)
        }
    }
}

enum Verdict {
    Here,
    Elsewhere(Why),
    Missing(Why),
}

/// The names in `findings`, each once, in order.
fn names(findings: &[Finding]) -> Vec<&str> {
    let mut out: Vec<&str> = Vec::new();
    for f in findings {
        if !out.contains(&f.name.as_str()) {
            out.push(&f.name);
        }
    }
    out
}

/// A name leads here when every nameserver that answered gives only addresses of this machine:
/// the CA may ask any of them, and may try any address. A server that could not be asked is
/// passed over as long as another one answered.
fn judge_name(name: &str, findings: &[Finding]) -> Verdict {
    let mut answered = false;
    let mut elsewhere = None;
    let mut failure = None;
    for f in findings.iter().filter(|f| f.name == name) {
        let to = match &f.answer {
            Answer::Failed(why) => {
                failure.get_or_insert_with(|| why.clone());
                continue;
            }
            Answer::NoRecord => {
                return Verdict::Missing(Why::NoRecord {
                    name: name.to_owned(),
                    server: f.server.clone(),
                });
            }
            Answer::Alias(target) => Some(format!("the alias {target}")),
            Answer::Addresses(addrs) => {
                let foreign: Vec<String> = addrs
                    .iter()
                    .filter(|a| !a.local)
                    .map(|a| a.ip.to_string())
                    .collect();
                (!foreign.is_empty()).then(|| foreign.join(", "))
            }
        };
        answered = true;
        if let Some(to) = to {
            elsewhere.get_or_insert(Why::Elsewhere {
                name: name.to_owned(),
                server: f.server.clone(),
                to,
            });
        }
    }
    match (answered, elsewhere) {
        (false, _) => Verdict::Missing(Why::Unanswered {
            name: name.to_owned(),
            why: failure.unwrap_or_else(|| "it has no nameserver".to_owned()),
        }),
        (true, Some(why)) => Verdict::Elsewhere(why),
        (true, None) => Verdict::Here,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(name: &str, server: &str, answer: Answer) -> Finding {
        Finding {
            name: name.into(),
            server: server.into(),
            answer,
        }
    }

    fn at(ip: &str, local: bool) -> Address {
        Address {
            ip: ip.parse().unwrap_or(IpAddr::from([0, 0, 0, 0])),
            local,
        }
    }

    const NAME: &str = "rewards.example.com";

    #[test]
    fn every_nameserver_giving_only_local_addresses_is_ready() {
        let here = Answer::Addresses(vec![at("192.0.2.7", true), at("2001:db8::7", true)]);
        let findings = [
            found(NAME, "ns1.linode.com", here.clone()),
            found(NAME, "ns2.linode.com", here),
        ];
        let mut r = Readiness::default();
        assert_eq!(r.decide(&findings, Instant::now()), Decision::Ready);
    }

    #[test]
    fn a_nameserver_without_the_record_means_wait_and_says_which() {
        let findings = [
            found(
                NAME,
                "ns1.linode.com",
                Answer::Addresses(vec![at("192.0.2.7", true)]),
            ),
            found(NAME, "ns2.linode.com", Answer::NoRecord),
        ];
        let d = Readiness::default().decide(&findings, Instant::now());
        let Decision::Wait(why) = d else {
            panic!("{d:?}")
        };
        assert_eq!(
            why.to_string(),
            "rewards.example.com has no A/AAAA record at ns2.linode.com yet"
        );
    }

    #[test]
    fn no_record_keeps_waiting_however_long() {
        let findings = [found(NAME, "ns1.linode.com", Answer::NoRecord)];
        let mut r = Readiness::default();
        let start = Instant::now();
        for minutes in [0, 10, 60, 24 * 60] {
            let now = start + Duration::from_secs(minutes * 60);
            assert!(matches!(r.decide(&findings, now), Decision::Wait(_)));
        }
    }

    #[test]
    fn an_address_elsewhere_waits_for_the_grace_period_then_goes_ahead_with_the_reason() {
        let findings = [found(
            NAME,
            "ns1.linode.com",
            Answer::Addresses(vec![at("203.0.113.9", false)]),
        )];
        let mut r = Readiness::default();
        let start = Instant::now();
        let Decision::Wait(why) = r.decide(&findings, start) else {
            panic!("should wait")
        };
        assert_eq!(
            why.to_string(),
            "rewards.example.com points at 203.0.113.9 at ns1.linode.com, which is not this machine"
        );
        let almost = start + FOREIGN_GRACE - Duration::from_secs(1);
        assert!(matches!(r.decide(&findings, almost), Decision::Wait(_)));
        assert_eq!(
            r.decide(&findings, start + FOREIGN_GRACE),
            Decision::ReadyDespite(why)
        );
    }

    #[test]
    fn the_grace_period_starts_again_after_the_name_stopped_resolving() {
        let elsewhere = [found(
            NAME,
            "ns1",
            Answer::Addresses(vec![at("203.0.113.9", false)]),
        )];
        let missing = [found(NAME, "ns1", Answer::NoRecord)];
        let mut r = Readiness::default();
        let start = Instant::now();
        r.decide(&elsewhere, start);
        r.decide(&missing, start + FOREIGN_GRACE / 2);
        let later = start + FOREIGN_GRACE + Duration::from_secs(1);
        assert!(matches!(r.decide(&elsewhere, later), Decision::Wait(_)));
        assert!(matches!(
            r.decide(&elsewhere, later + FOREIGN_GRACE),
            Decision::ReadyDespite(_)
        ));
    }

    #[test]
    fn one_address_elsewhere_among_local_ones_is_elsewhere() {
        // An AAAA record left pointing at the old server: the CA may well try it.
        let findings = [found(
            NAME,
            "ns1",
            Answer::Addresses(vec![at("192.0.2.7", true), at("2001:db8::1", false)]),
        )];
        let Decision::Wait(why) = Readiness::default().decide(&findings, Instant::now()) else {
            panic!("should wait")
        };
        assert!(why.to_string().contains("2001:db8::1"), "{why}");
    }

    #[test]
    fn an_unreachable_nameserver_is_passed_over_when_another_answered() {
        let findings = [
            found(NAME, "ns1", Answer::Failed("timed out".into())),
            found(NAME, "ns2", Answer::Addresses(vec![at("192.0.2.7", true)])),
        ];
        assert_eq!(
            Readiness::default().decide(&findings, Instant::now()),
            Decision::Ready
        );
        let none = [found(NAME, "ns1", Answer::Failed("timed out".into()))];
        let Decision::Wait(why) = Readiness::default().decide(&none, Instant::now()) else {
            panic!("should wait")
        };
        assert_eq!(
            why.to_string(),
            "cannot ask the nameservers of rewards.example.com: timed out"
        );
    }

    #[test]
    fn every_name_must_be_ready_and_a_missing_one_outranks_one_elsewhere() {
        let findings = [
            found(
                NAME,
                "ns1",
                Answer::Addresses(vec![at("203.0.113.9", false)]),
            ),
            found("cards.example.com", "ns1", Answer::NoRecord),
        ];
        let mut r = Readiness::default();
        let start = Instant::now();
        let later = start + FOREIGN_GRACE * 2;
        for now in [start, later] {
            let Decision::Wait(why) = r.decide(&findings, now) else {
                panic!("should wait")
            };
            assert!(
                why.to_string().starts_with("cards.example.com has no"),
                "{why}"
            );
        }
    }

    #[test]
    fn an_alias_is_not_followed_and_counts_as_elsewhere() {
        let findings = [found(
            NAME,
            "ns1",
            Answer::Alias("shops.example.net".into()),
        )];
        let Decision::Wait(why) = Readiness::default().decide(&findings, Instant::now()) else {
            panic!("should wait")
        };
        assert!(
            why.to_string().contains("the alias shops.example.net"),
            "{why}"
        );
    }
}
