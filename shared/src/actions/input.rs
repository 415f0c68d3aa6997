//! Validated inputs: the types an action's query or body deserialize into. Each refuses
//! what it cannot be while deserializing (`#[serde(try_from = …)]`), so a handler only
//! ever holds sensible input, and a bad one is a 400 JSON error naming the field before
//! any tool runs.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Trimmed text of 1 to `MAX` characters.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Text<const MAX: usize>(String);

impl<const MAX: usize> TryFrom<String> for Text<MAX> {
    type Error = String;

    fn try_from(text: String) -> Result<Self, String> {
        let trimmed = text.trim();
        let chars = trimmed.chars().count();
        if chars == 0 || chars > MAX {
            return Err(format!("must be 1 to {MAX} characters"));
        }
        Ok(Text(trimmed.to_owned()))
    }
}

impl<const MAX: usize> From<Text<MAX>> for String {
    fn from(text: Text<MAX>) -> String {
        text.0
    }
}

impl<const MAX: usize> Text<MAX> {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A count from 1 to 10 (results to return).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "u64", into = "u8")]
pub struct Count(u8);

impl Count {
    pub const DEFAULT: Count = Count(5);

    pub fn get(self) -> usize {
        usize::from(self.0)
    }
}

impl TryFrom<u64> for Count {
    type Error = String;

    fn try_from(n: u64) -> Result<Self, String> {
        if (1..=10).contains(&n) { Ok(Count(n as u8)) } else { Err("must be between 1 and 10".into()) }
    }
}

impl From<Count> for u8 {
    fn from(count: Count) -> u8 {
        count.0
    }
}

/// A Solana mint or wallet address: base58, 32 to 44 characters.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Mint(String);

impl TryFrom<String> for Mint {
    type Error = String;

    fn try_from(text: String) -> Result<Self, String> {
        const BASE58: &str = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";
        if (32..=44).contains(&text.len()) && text.chars().all(|c| BASE58.contains(c)) {
            Ok(Mint(text))
        } else {
            Err("must be a Solana address (base58, 32 to 44 characters)".into())
        }
    }
}

impl Mint {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl From<Mint> for String {
    fn from(mint: Mint) -> String {
        mint.0
    }
}

impl fmt::Display for Mint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A positive, finite number no larger than `MAX` (given as a power of ten, so it can be
/// a const parameter): token amounts (10⁹) and alert thresholds (10¹⁵).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "f64", into = "f64")]
pub struct Positive<const MAX_EXP: i32>(f64);

impl<const MAX_EXP: i32> Positive<MAX_EXP> {
    pub fn max() -> f64 {
        10f64.powi(MAX_EXP)
    }

    pub fn get(self) -> f64 {
        self.0
    }
}

impl<const MAX_EXP: i32> TryFrom<f64> for Positive<MAX_EXP> {
    type Error = String;

    fn try_from(value: f64) -> Result<Self, String> {
        if value.is_finite() && value > 0.0 && value <= Self::max() {
            Ok(Positive(value))
        } else {
            Err(format!("must be a positive number no larger than 1e{MAX_EXP}"))
        }
    }
}

impl<const MAX_EXP: i32> From<Positive<MAX_EXP>> for f64 {
    fn from(value: Positive<MAX_EXP>) -> f64 {
        value.0
    }
}

/// A token amount: positive, at most 10⁹ (beyond any real supply, and small enough that
/// every amount converts to raw units (u64) with up to 9 decimals).
pub type TokenAmount = Positive<9>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_trimmed_and_bounded() {
        assert_eq!(Text::<5>::try_from("  abc ".to_owned()).unwrap().as_str(), "abc");
        assert!(Text::<5>::try_from("   ".to_owned()).is_err());
        assert!(Text::<5>::try_from("abcdef".to_owned()).is_err());
    }

    #[test]
    fn counts_mints_and_amounts_refuse_nonsense() {
        assert!(Count::try_from(0).is_err() && Count::try_from(11).is_err() && Count::try_from(10).is_ok());
        assert!(Mint::try_from("So11111111111111111111111111111111111111112".to_owned()).is_ok());
        assert!(Mint::try_from("not-a-mint".to_owned()).is_err());
        assert!(Mint::try_from("0OIl0OIl0OIl0OIl0OIl0OIl0OIl0OIl0OIl".to_owned()).is_err());
        for bad in [0.0, -1.0, f64::NAN, f64::INFINITY, 1e300] {
            assert!(TokenAmount::try_from(bad).is_err(), "{bad}");
        }
        assert_eq!(TokenAmount::try_from(1.5).unwrap().get(), 1.5);
    }
}
