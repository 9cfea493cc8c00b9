//! Intervals typed by an operator: `90s`, `30m`, `12h`, `30d`.

/// Seconds in `raw`: digits, then `s`, `m`, `h` or `d`, or no unit for `default_unit`; `None`
/// when it is not such an interval.
pub fn parse_seconds(raw: &str, default_unit: char) -> Option<u64> {
    let raw = raw.trim();
    let (num, unit) = raw.split_at(raw.find(|c: char| !c.is_ascii_digit()).unwrap_or(raw.len()));
    let n: u64 = num.parse().ok()?;
    let unit = match unit {
        "" => default_unit,
        u if u.len() == 1 => u.chars().next()?,
        _ => return None,
    };
    let per = match unit {
        's' => 1,
        'm' => 60,
        'h' => 3600,
        'd' => 86_400,
        _ => return None,
    };
    n.checked_mul(per)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_and_the_default_unit() {
        assert_eq!(parse_seconds("90s", 'h'), Some(90));
        assert_eq!(parse_seconds(" 2h ", 'h'), Some(7200));
        assert_eq!(parse_seconds("3", 'd'), Some(3 * 86_400));
        assert_eq!(parse_seconds("5w", 'h'), None);
        assert_eq!(parse_seconds("soon", 'h'), None);
        assert_eq!(parse_seconds("99999999999999999999d", 'h'), None);
    }
}
