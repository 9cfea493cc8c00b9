//! Birthdays: the date a member gives (year optional), when it falls in a given year, and
//! whether the daily step owes the birthday points.

use super::DomainError;
use jiff::civil::Date;

/// Days after a birthday on which a late run (after downtime) still gives its points.
pub const CATCH_UP_DAYS: i16 = 7;

/// The largest number of birthday points.
pub const MAX_BIRTHDAY_POINTS: i64 = 100_000;

/// A birthday: month and day, and the year if the member gave it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Birthday {
    /// 1 to 12.
    pub month: i8,
    /// 1 to 31, valid for the month (29 February included).
    pub day: i8,
    /// The year of birth, if given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub year: Option<i16>,
}

impl Birthday {
    /// Parses `MM-DD` or `YYYY-MM-DD` (what a date field sends). 29 February is a birthday
    /// without a year or with a leap year; 31 April never is.
    pub fn parse(raw: &str) -> Result<Self, DomainError> {
        let bad = || {
            DomainError::invalid(
                "birthday",
                "must be a date such as 1990-04-30, or just month and day such as 04-30",
            )
        };
        let s = raw.trim();
        let parts: Vec<&str> = s.split('-').collect();
        let num = |p: &str, len: usize| -> Result<i64, DomainError> {
            if p.len() == len && p.bytes().all(|b| b.is_ascii_digit()) {
                p.parse().map_err(|_| bad())
            } else {
                Err(bad())
            }
        };
        let (year, month, day) = match parts.as_slice() {
            [m, d] => (None, num(m, 2)?, num(d, 2)?),
            [y, m, d] => (Some(num(y, 4)?), num(m, 2)?, num(d, 2)?),
            _ => return Err(bad()),
        };
        let year = match year {
            None => None,
            Some(y) if (1900..=2100).contains(&y) => Some(i16::try_from(y).map_err(|_| bad())?),
            Some(_) => {
                return Err(DomainError::invalid(
                    "birthday",
                    "the year must be between 1900 and 2100",
                ));
            }
        };
        let month = i8::try_from(month).map_err(|_| bad())?;
        let day = i8::try_from(day).map_err(|_| bad())?;
        // Checked in a leap year when no year is given, so 29 February is allowed.
        Date::new(year.unwrap_or(2000), month, day).map_err(|_| {
            DomainError::invalid("birthday", "is not a day of the calendar (check the month)")
        })?;
        Ok(Self { month, day, year })
    }

    /// The birthday as the forms show it: `YYYY-MM-DD`, or `MM-DD` without a year.
    pub fn as_text(&self) -> String {
        match self.year {
            Some(y) => format!("{y:04}-{:02}-{:02}", self.month, self.day),
            None => format!("{:02}-{:02}", self.month, self.day),
        }
    }

    /// The birthday in words, like "30 April".
    pub fn in_words(&self) -> String {
        const MONTHS: [&str; 12] = [
            "January",
            "February",
            "March",
            "April",
            "May",
            "June",
            "July",
            "August",
            "September",
            "October",
            "November",
            "December",
        ];
        let month = usize::try_from(self.month - 1)
            .ok()
            .and_then(|i| MONTHS.get(i))
            .copied()
            .unwrap_or("?");
        format!("{} {month}", self.day)
    }

    /// The key of the month-day index: `MM-DD`.
    pub fn index_key(&self) -> String {
        format!("{:02}-{:02}", self.month, self.day)
    }

    /// The day it is celebrated in `year`: 29 February falls on 28 February outside leap years.
    pub fn in_year(&self, year: i16) -> Option<Date> {
        Date::new(year, self.month, self.day)
            .or_else(|_| Date::new(year, self.month, self.day - 1))
            .ok()
    }
}

/// The month-day index keys whose birthday falls on one of the last [`CATCH_UP_DAYS`] days
/// up to `today`, within today's year (a birthday of a past year is never given).
pub fn keys_due(today: Date) -> Vec<String> {
    let mut keys = Vec::new();
    let mut day = today;
    for _ in 0..=CATCH_UP_DAYS {
        if day.year() != today.year() {
            break;
        }
        keys.push(format!("{:02}-{:02}", day.month(), day.day()));
        if day.month() == 2 && day.day() == 28 && !day.in_leap_year() {
            keys.push("02-29".to_owned());
        }
        match day.yesterday() {
            Ok(d) => day = d,
            Err(_) => break,
        }
    }
    keys
}

/// The year whose birthday points are owed on `today`, if any: the birthday fell within the
/// last [`CATCH_UP_DAYS`] days of this year and this year's were not given yet.
pub fn owed(birthday: &Birthday, awarded: Option<i16>, today: Date) -> Option<i16> {
    let year = today.year();
    if awarded.is_some_and(|a| a >= year) {
        return None;
    }
    let day = birthday.in_year(year)?;
    let late = today.since(day).ok()?.get_days();
    (day <= today && i64::from(late) <= i64::from(CATCH_UP_DAYS)).then_some(year)
}

/// Birthday points (off by default).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct BirthdaySettings {
    /// Whether the daily step gives them.
    pub enabled: bool,
    /// Points on the day.
    pub points: i64,
}

impl Default for BirthdaySettings {
    fn default() -> Self {
        Self {
            enabled: false,
            points: 50,
        }
    }
}

impl BirthdaySettings {
    /// Checks the points: 1 to 100 000.
    pub fn parse(enabled: bool, points: i64) -> Result<Self, DomainError> {
        if !(1..=MAX_BIRTHDAY_POINTS).contains(&points) {
            return Err(DomainError::invalid(
                "birthday_points",
                format!("must be between 1 and {MAX_BIRTHDAY_POINTS}"),
            ));
        }
        Ok(Self { enabled, points })
    }
}

#[cfg(test)]
mod tests {
    #![expect(clippy::unwrap_used, reason = "tests fail loudly")]
    use super::*;
    use crate::domain::ledger_check::local_date;
    use jiff::civil::date;
    use jiff::tz::TimeZone;
    use time::macros::datetime;

    #[test]
    fn birthdays_parse_with_or_without_a_year() {
        let ok = [
            ("04-30", 4, 30, None),
            (" 1990-04-30 ", 4, 30, Some(1990)),
            ("02-29", 2, 29, None),
            ("2000-02-29", 2, 29, Some(2000)),
            ("12-31", 12, 31, None),
        ];
        for (raw, m, d, y) in ok {
            let b = Birthday::parse(raw).unwrap();
            assert_eq!((b.month, b.day, b.year), (m, d, y), "{raw}");
            assert_eq!(Birthday::parse(&b.as_text()), Ok(b));
        }
        for bad in [
            "04-31",
            "2001-02-29",
            "02-30",
            "13-01",
            "00-10",
            "4-30",
            "1800-01-01",
            "30/04",
            "",
            "1990-04-30-1",
        ] {
            assert!(Birthday::parse(bad).is_err(), "{bad:?}");
        }
        assert_eq!(Birthday::parse("04-30").unwrap().in_words(), "30 April");
    }

    #[test]
    fn leap_day_birthdays_fall_on_28_february_in_other_years() {
        let leap = Birthday::parse("02-29").unwrap();
        assert_eq!(leap.in_year(2028), Some(date(2028, 2, 29)));
        assert_eq!(leap.in_year(2027), Some(date(2027, 2, 28)));
        assert!(keys_due(date(2027, 2, 28)).contains(&"02-29".to_owned()));
        assert!(!keys_due(date(2028, 2, 28)).contains(&"02-29".to_owned()));
    }

    #[test]
    fn points_are_owed_once_a_year_within_the_catch_up_window() {
        struct Case {
            birthday: &'static str,
            awarded: Option<i16>,
            today: Date,
            owed: Option<i16>,
        }
        let cases = [
            // On the day.
            Case {
                birthday: "05-10",
                awarded: None,
                today: date(2027, 5, 10),
                owed: Some(2027),
            },
            // Given last year: owed again this year.
            Case {
                birthday: "05-10",
                awarded: Some(2026),
                today: date(2027, 5, 10),
                owed: Some(2027),
            },
            // Given already this year: once a year.
            Case {
                birthday: "05-10",
                awarded: Some(2027),
                today: date(2027, 5, 12),
                owed: None,
            },
            // The day before: not yet.
            Case {
                birthday: "05-10",
                awarded: None,
                today: date(2027, 5, 9),
                owed: None,
            },
            // Seven days late (downtime): still given.
            Case {
                birthday: "05-10",
                awarded: None,
                today: date(2027, 5, 17),
                owed: Some(2027),
            },
            // Eight days late: missed.
            Case {
                birthday: "05-10",
                awarded: None,
                today: date(2027, 5, 18),
                owed: None,
            },
            // A birthday at the end of last year is never given in the new one.
            Case {
                birthday: "12-30",
                awarded: None,
                today: date(2028, 1, 2),
                owed: None,
            },
            // 29 February: on 28 February outside leap years, on the 29th in them.
            Case {
                birthday: "02-29",
                awarded: Some(2026),
                today: date(2027, 2, 28),
                owed: Some(2027),
            },
            Case {
                birthday: "02-29",
                awarded: Some(2027),
                today: date(2028, 2, 28),
                owed: None,
            },
            Case {
                birthday: "2000-02-29",
                awarded: Some(2027),
                today: date(2028, 2, 29),
                owed: Some(2028),
            },
        ];
        for c in cases {
            let b = Birthday::parse(c.birthday).unwrap();
            assert_eq!(
                owed(&b, c.awarded, c.today),
                c.owed,
                "{} awarded {:?} on {}",
                c.birthday,
                c.awarded,
                c.today
            );
            // Whatever is owed is also found through the month-day index.
            if c.owed.is_some() {
                let key = b.index_key();
                assert!(keys_due(c.today).contains(&key), "{key} on {}", c.today);
            }
        }
    }

    #[test]
    fn the_day_is_the_business_time_zones() {
        let tokyo = TimeZone::get("Asia/Tokyo").unwrap();
        let la = TimeZone::get("America/Los_Angeles").unwrap();
        let b = Birthday::parse("03-15").unwrap();
        // 14 March 15:30 UTC is already the 15th in Tokyo, still the 14th in Los Angeles.
        let t = datetime!(2027-03-14 15:30 UTC);
        assert_eq!(owed(&b, None, local_date(t, &tokyo)), Some(2027));
        assert_eq!(owed(&b, None, local_date(t, &la)), None);
        assert_eq!(owed(&b, None, local_date(t, &TimeZone::UTC)), None);
        // 16 March 06:59 UTC is still the 15th in Los Angeles (PDT, UTC-7).
        let t = datetime!(2027-03-16 06:59 UTC);
        assert_eq!(local_date(t, &la), date(2027, 3, 15));
        assert_eq!(owed(&b, None, local_date(t, &la)), Some(2027));
    }

    #[test]
    fn the_index_window_stays_in_the_year() {
        let keys = keys_due(date(2027, 1, 3));
        assert_eq!(keys, vec!["01-03", "01-02", "01-01"]);
        assert_eq!(keys_due(date(2027, 6, 20)).len(), 8);
    }

    #[test]
    fn settings_are_range_checked() {
        assert!(BirthdaySettings::parse(true, 1).is_ok());
        assert!(BirthdaySettings::parse(true, 0).is_err());
        assert!(BirthdaySettings::parse(false, 100_001).is_err());
    }
}
