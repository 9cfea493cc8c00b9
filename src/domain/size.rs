//! Sizes: typed by an operator (`64MiB`, `256M`, `1GiB`, `1048576`), and shown back.

/// Bytes in `raw`: digits, then an optional unit (`K`, `M`, `G`, with or without `iB`/`B`,
/// all powers of 1024, as memory is counted), no unit meaning bytes; `None` when it is not such
/// a size.
pub fn parse_bytes(raw: &str) -> Option<u64> {
    let raw = raw.trim();
    let (num, unit) = raw.split_at(raw.find(|c: char| !c.is_ascii_digit()).unwrap_or(raw.len()));
    let n: u64 = num.parse().ok()?;
    let per: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        _ => return None,
    };
    n.checked_mul(per)
}

/// `bytes` as people read it, in the same powers of 1024: `812 B`, `4.0 KiB`, `1.2 MiB`.
pub fn show_bytes(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_show_in_the_largest_whole_unit() {
        assert_eq!(show_bytes(812), "812 B");
        assert_eq!(show_bytes(4096), "4.0 KiB");
        assert_eq!(show_bytes(1_258_291), "1.2 MiB");
        assert_eq!(show_bytes(3 << 30), "3.0 GiB");
    }

    #[test]
    fn units_are_powers_of_1024() {
        assert_eq!(parse_bytes("64MiB"), Some(64 << 20));
        assert_eq!(parse_bytes(" 256M "), Some(256 << 20));
        assert_eq!(parse_bytes("1gib"), Some(1 << 30));
        assert_eq!(parse_bytes("512 KiB"), Some(512 << 10));
        assert_eq!(parse_bytes("4096"), Some(4096));
        assert_eq!(parse_bytes("64 apples"), None);
        assert_eq!(parse_bytes("MiB"), None);
        assert_eq!(parse_bytes("99999999999999G"), None);
    }
}
