//! Money as integer minor units with an ISO 4217 currency.

use super::DomainError;
use super::ledger::MAX_AMOUNT_MINOR;

/// An ISO 4217 currency code (three upper-case letters).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Currency([u8; 3]);

impl Currency {
    /// The euro, the default until the owner sets theirs.
    pub const EUR: Currency = Currency(*b"EUR");

    /// Parses a code such as `EUR`; lower case is accepted and upper-cased.
    pub fn parse(raw: &str) -> Result<Self, DomainError> {
        let up = raw.trim().to_ascii_uppercase();
        match up.as_bytes() {
            [a, b, c] if up.bytes().all(|x| x.is_ascii_uppercase()) => Ok(Self([*a, *b, *c])),
            _ => Err(DomainError::invalid(
                "currency",
                "must be a three-letter ISO 4217 code",
            )),
        }
    }

    /// The code.
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).unwrap_or("XXX")
    }

    /// How many minor-unit digits the currency has (ISO 4217; 2 unless listed).
    pub fn exponent(&self) -> u32 {
        match self.as_str() {
            "BIF" | "CLP" | "DJF" | "GNF" | "ISK" | "JPY" | "KMF" | "KRW" | "PYG" | "RWF"
            | "UGX" | "UYI" | "VND" | "VUV" | "XAF" | "XOF" | "XPF" => 0,
            "BHD" | "IQD" | "JOD" | "KWD" | "LYD" | "OMR" | "TND" => 3,
            "CLF" | "UYW" => 4,
            _ => 2,
        }
    }
}

impl TryFrom<String> for Currency {
    type Error = DomainError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl From<Currency> for String {
    fn from(c: Currency) -> Self {
        c.as_str().to_owned()
    }
}

/// A non-negative amount of money in minor units (cents, pence).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Money {
    /// Minor units.
    pub amount_minor: i64,
    /// The currency.
    pub currency: Currency,
}

impl Money {
    /// Builds a purchase amount: 1 to `MAX_AMOUNT_MINOR` minor units.
    pub fn purchase(amount_minor: i64, currency: Currency) -> Result<Self, DomainError> {
        if !(1..=MAX_AMOUNT_MINOR).contains(&amount_minor) {
            return Err(DomainError::invalid(
                "amount_minor",
                format!("must be between 1 and {MAX_AMOUNT_MINOR} (minor units)"),
            ));
        }
        Ok(Self {
            amount_minor,
            currency,
        })
    }

    /// Whole currency units, rounded down.
    pub fn whole_units(&self) -> i64 {
        self.amount_minor / 10i64.pow(self.currency.exponent())
    }

    /// Parses an amount as a person types it (`12.50`, `12,50`, `12`) into a purchase.
    pub fn parse_decimal(raw: &str, currency: Currency) -> Result<Self, DomainError> {
        let bad = || {
            DomainError::invalid(
                "amount",
                format!(
                    "must be an amount such as {}",
                    Money {
                        amount_minor: 1250 * 10i64.pow(currency.exponent()) / 100,
                        currency
                    }
                    .to_decimal()
                ),
            )
        };
        let text = raw.trim().replace(',', ".");
        let (whole, frac) = text.split_once('.').unwrap_or((&text, ""));
        let exp = usize::try_from(currency.exponent()).unwrap_or(0);
        let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        if !digits(whole) || (!frac.is_empty() && !digits(frac)) || frac.len() > exp {
            return Err(bad());
        }
        let padded = format!("{whole}{frac:0<exp$}");
        let too_large = || {
            let most = Money {
                amount_minor: MAX_AMOUNT_MINOR,
                currency,
            };
            DomainError::invalid("amount", format!("must be at most {}", most.to_decimal()))
        };
        let minor = padded.parse::<i64>().map_err(|_| too_large())?;
        match minor {
            0 => Err(DomainError::invalid("amount", "must be greater than 0")),
            m if m > MAX_AMOUNT_MINOR => Err(too_large()),
            m => Money::purchase(m, currency),
        }
    }

    /// The amount as a decimal, e.g. `12.50`.
    pub fn to_decimal(&self) -> String {
        let exp = self.currency.exponent();
        if exp == 0 {
            return self.amount_minor.to_string();
        }
        let unit = 10i64.pow(exp);
        let width = usize::try_from(exp).unwrap_or(2);
        format!(
            "{}.{:0width$}",
            self.amount_minor / unit,
            self.amount_minor % unit
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn currencies_parse_and_know_their_exponent() {
        let eur = Currency::parse("eur");
        assert_eq!(eur.map(|c| c.as_str().to_owned()), Ok("EUR".into()));
        assert_eq!(Currency::parse("JPY").map(|c| c.exponent()), Ok(0));
        assert_eq!(Currency::parse("KWD").map(|c| c.exponent()), Ok(3));
        assert!(Currency::parse("EURO").is_err());
        assert!(Currency::parse("E1R").is_err());
    }

    #[test]
    fn whole_units_round_down() -> Result<(), DomainError> {
        let eur = Currency::parse("EUR")?;
        assert_eq!(Money::purchase(1999, eur)?.whole_units(), 19);
        assert_eq!(Money::purchase(99, eur)?.whole_units(), 0);
        assert_eq!(
            Money::purchase(500, Currency::parse("JPY")?)?.whole_units(),
            500
        );
        assert!(Money::purchase(0, eur).is_err());
        assert!(Money::purchase(-5, eur).is_err());
        assert!(Money::purchase(MAX_AMOUNT_MINOR, eur).is_ok());
        assert!(Money::purchase(MAX_AMOUNT_MINOR + 1, eur).is_err());
        assert!(Money::purchase(i64::MAX, eur).is_err());
        Ok(())
    }

    #[test]
    fn typed_amounts_parse_to_minor_units() -> Result<(), DomainError> {
        let eur = Currency::parse("EUR")?;
        assert_eq!(Money::parse_decimal("12.50", eur)?.amount_minor, 1250);
        assert_eq!(Money::parse_decimal("12,5", eur)?.amount_minor, 1250);
        assert_eq!(Money::parse_decimal(" 7 ", eur)?.amount_minor, 700);
        assert_eq!(Money::parse_decimal("12.50", eur)?.to_decimal(), "12.50");
        assert_eq!(
            Money::parse_decimal("10000000000.00", eur)?.amount_minor,
            MAX_AMOUNT_MINOR
        );
        for bad in [
            "",
            "1.234",
            "-3",
            "abc",
            "0",
            "1e3",
            ".",
            "10000000000.01",
            "92233720368547758.07",
            "99999999999999999999",
        ] {
            assert!(Money::parse_decimal(bad, eur).is_err(), "{bad:?} accepted");
        }
        let jpy = Currency::parse("JPY")?;
        assert!(Money::parse_decimal("5.5", jpy).is_err());
        assert_eq!(Money::parse_decimal("500", jpy)?.to_decimal(), "500");
        Ok(())
    }
}
