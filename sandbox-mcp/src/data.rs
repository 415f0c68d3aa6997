//! The sandbox's world: five real Solana tokens at fixed prices, and for every user two
//! managed wallets whose addresses and balances are derived from the user id by SHA-256,
//! so the same user always sees the same portfolio and a test can compute what to expect
//! with these functions. Nothing here touches a chain.

use sha2::{Digest, Sha256, Sha512};

/// A token the sandbox knows, with the mainnet mint address and a fixed market.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Token {
    pub symbol: &'static str,
    pub name: &'static str,
    pub mint: &'static str,
    pub decimals: u32,
    pub price_usd: f64,
    pub price_change_24h_pct: f64,
    pub liquidity_usd: f64,
    pub volume_24h_usd: f64,
    pub market_cap_usd: f64,
    pub fdv_usd: f64,
}

pub const SOL_MINT: &str = "So11111111111111111111111111111111111111112";
pub const USDC_MINT: &str = "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v";
pub const BONK_MINT: &str = "DezXAZ8z7PnrnRJjz3wXBoRgixCa6xjnB7YaB1pPB263";
pub const JUP_MINT: &str = "JUPyiwrYJFskUPiHa7hkeR8VUtAeFoSYbKedZNsDvCN";
pub const WIF_MINT: &str = "EKpQGSJtjMFqKZ9KQanSqYXRcF8fBopzLHYxdM65zcjm";

pub const TOKENS: &[Token] = &[
    Token {
        symbol: "SOL",
        name: "Wrapped SOL",
        mint: SOL_MINT,
        decimals: 9,
        price_usd: 150.0,
        price_change_24h_pct: 1.8,
        liquidity_usd: 850_000_000.0,
        volume_24h_usd: 2_400_000_000.0,
        market_cap_usd: 72_000_000_000.0,
        fdv_usd: 88_000_000_000.0,
    },
    Token {
        symbol: "USDC",
        name: "USD Coin",
        mint: USDC_MINT,
        decimals: 6,
        price_usd: 1.0,
        price_change_24h_pct: 0.0,
        liquidity_usd: 620_000_000.0,
        volume_24h_usd: 1_900_000_000.0,
        market_cap_usd: 8_900_000_000.0,
        fdv_usd: 8_900_000_000.0,
    },
    Token {
        symbol: "BONK",
        name: "Bonk",
        mint: BONK_MINT,
        decimals: 5,
        price_usd: 0.000022,
        price_change_24h_pct: -3.2,
        liquidity_usd: 42_000_000.0,
        volume_24h_usd: 180_000_000.0,
        market_cap_usd: 1_700_000_000.0,
        fdv_usd: 1_950_000_000.0,
    },
    Token {
        symbol: "JUP",
        name: "Jupiter",
        mint: JUP_MINT,
        decimals: 6,
        price_usd: 0.85,
        price_change_24h_pct: 2.4,
        liquidity_usd: 60_000_000.0,
        volume_24h_usd: 95_000_000.0,
        market_cap_usd: 1_150_000_000.0,
        fdv_usd: 8_500_000_000.0,
    },
    Token {
        symbol: "WIF",
        name: "dogwifhat",
        mint: WIF_MINT,
        decimals: 6,
        price_usd: 1.95,
        price_change_24h_pct: -5.6,
        liquidity_usd: 38_000_000.0,
        volume_24h_usd: 310_000_000.0,
        market_cap_usd: 1_950_000_000.0,
        fdv_usd: 1_950_000_000.0,
    },
];

/// The token with this mint address: one of the five known ones or, for any other
/// well-formed Solana address, a synthetic token derived from the address. The sandbox has
/// no chain to ask whether a mint exists, and answering every plausible mint keeps fuzzed
/// requests (schemathesis) on the connector's paths rather than on `unknown_token`.
/// Malformed addresses are unknown.
pub fn token_by_mint(mint: &str) -> Option<&'static Token> {
    if let Some(known) = TOKENS.iter().find(|t| t.mint == mint) {
        return Some(known);
    }
    let well_formed = (32..=44).contains(&mint.len()) && mint.bytes().all(|b| BASE58_ALPHABET.contains(&b));
    if !well_formed {
        return None;
    }
    synthetic_token(mint)
}

/// Synthetic tokens, made once per mint and kept (bounded) so `&'static` references stay
/// valid for the sandbox's lifetime.
fn synthetic_token(mint: &str) -> Option<&'static Token> {
    use std::collections::HashMap;
    use std::sync::{Mutex, OnceLock};
    const MAX_SYNTHETIC: usize = 10_000;
    static MADE: OnceLock<Mutex<HashMap<String, &'static Token>>> = OnceLock::new();
    let mut made = MADE.get_or_init(Default::default).lock().unwrap_or_else(|e| e.into_inner());
    if let Some(token) = made.get(mint) {
        return Some(token);
    }
    if made.len() >= MAX_SYNTHETIC {
        return None;
    }
    let digest = Sha256::digest(mint.as_bytes());
    let unit = u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]]) as f64 / u32::MAX as f64;
    let price_usd = round(0.0001 + unit * 10.0, 6);
    let symbol: &'static str = Box::leak(mint[..4].to_uppercase().into_boxed_str());
    let name: &'static str = Box::leak(format!("Sandbox token {}", &mint[..8]).into_boxed_str());
    let mint_static: &'static str = Box::leak(mint.to_owned().into_boxed_str());
    let token: &'static Token = Box::leak(Box::new(Token {
        symbol,
        name,
        mint: mint_static,
        decimals: 6,
        price_usd,
        price_change_24h_pct: round(unit * 20.0 - 10.0, 2),
        liquidity_usd: round(50_000.0 + unit * 500_000.0, 0),
        volume_24h_usd: round(10_000.0 + unit * 250_000.0, 0),
        market_cap_usd: round(1_000_000.0 + unit * 9_000_000.0, 0),
        fdv_usd: round(1_000_000.0 + unit * 12_000_000.0, 0),
    }));
    made.insert(mint.to_owned(), token);
    Some(token)
}

pub fn sol() -> &'static Token {
    &TOKENS[0]
}

/// One of a user's managed wallets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Wallet {
    pub address: String,
    pub label: &'static str,
    pub is_default: bool,
}

/// The user's two managed wallets, the default first.
pub fn wallets(user_id: &str) -> Vec<Wallet> {
    [("Main", true), ("Trading", false)]
        .iter()
        .enumerate()
        .map(|(i, &(label, is_default))| Wallet { address: wallet_address(user_id, i), label, is_default })
        .collect()
}

/// The address of the user's `i`-th managed wallet.
pub fn wallet_address(user_id: &str, i: usize) -> String {
    base58(&Sha256::digest(format!("dexter-sandbox/wallet/{user_id}/{i}")))
}

/// An amount of a token held by a wallet.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Holding {
    pub token: &'static Token,
    /// In the token's smallest unit.
    pub amount_raw: u64,
}

impl Holding {
    pub fn amount_ui(&self) -> f64 {
        ui(self.amount_raw, self.token.decimals)
    }

    pub fn value_usd(&self) -> f64 {
        self.amount_ui() * self.token.price_usd
    }
}

/// What a wallet holds: SOL, USDC, BONK and JUP, in amounts derived from its address
/// (SOL 1–41, USDC 25–5,025, BONK 1–10 million, JUP 10–2,010; whole or milli units).
pub fn holdings(wallet_address: &str) -> Vec<Holding> {
    let hash = Sha256::digest(format!("dexter-sandbox/balances/{wallet_address}"));
    let n = |i: usize| u64::from(u32::from_be_bytes([hash[4 * i], hash[4 * i + 1], hash[4 * i + 2], hash[4 * i + 3]]));
    let by_symbol = |symbol: &str| TOKENS.iter().find(|t| t.symbol == symbol).unwrap_or(&TOKENS[0]);
    vec![
        Holding { token: by_symbol("SOL"), amount_raw: (1_000 + n(0) % 40_000) * 1_000_000 },
        Holding { token: by_symbol("USDC"), amount_raw: (25 + n(1) % 5_000) * 1_000_000 },
        Holding { token: by_symbol("BONK"), amount_raw: (1_000_000 + n(2) % 9_000_000) * 100_000 },
        Holding { token: by_symbol("JUP"), amount_raw: (10 + n(3) % 2_000) * 1_000_000 },
    ]
}

/// The (fake, deterministic) associated token account of a wallet for a mint.
pub fn token_account(wallet_address: &str, mint: &str) -> String {
    base58(&Sha256::digest(format!("dexter-sandbox/ata/{wallet_address}/{mint}")))
}

/// A transaction signature: 64 bytes in base58, like Solana's, from the execution's inputs.
pub fn signature(seed: &str) -> String {
    base58(&Sha512::digest(format!("dexter-sandbox/signature/{seed}")))
}

/// A mint address ending in `pump`, like pump.fun's.
pub fn pump_mint(seed: &str) -> String {
    let mut address = base58(&Sha256::digest(format!("dexter-sandbox/pump/{seed}")));
    address.truncate(40);
    address.push_str("pump");
    address
}

/// A short lower-case hex digest, for ids.
pub fn short_hash(input: &str) -> String {
    Sha256::digest(input).iter().take(6).map(|b| format!("{b:02x}")).collect()
}

/// `raw` smallest units as a UI amount.
pub fn ui(raw: u64, decimals: u32) -> f64 {
    raw as f64 / 10f64.powi(decimals as i32)
}

/// A UI amount as smallest units, rounded down (never promise more than there is).
pub fn raw(ui: f64, decimals: u32) -> u64 {
    (ui * 10f64.powi(decimals as i32)).floor().max(0.0) as u64
}

/// Rounds to `places` decimals, for USD figures and percentages.
pub fn round(value: f64, places: i32) -> f64 {
    let factor = 10f64.powi(places);
    (value * factor).round() / factor
}

const BASE58_ALPHABET: &[u8; 58] = b"123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";

/// Bitcoin/Solana base58.
pub fn base58(bytes: &[u8]) -> String {
    let zeros = bytes.iter().take_while(|&&b| b == 0).count();
    // Base-58 digits, least significant first.
    let mut digits: Vec<u8> = Vec::with_capacity(bytes.len() * 138 / 100 + 1);
    for &byte in bytes {
        let mut carry = u32::from(byte);
        for digit in digits.iter_mut() {
            carry += u32::from(*digit) << 8;
            *digit = (carry % 58) as u8;
            carry /= 58;
        }
        while carry > 0 {
            digits.push((carry % 58) as u8);
            carry /= 58;
        }
    }
    let mut out = "1".repeat(zeros);
    out.extend(digits.iter().rev().map(|&d| char::from(BASE58_ALPHABET[usize::from(d)])));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base58_matches_known_vectors() {
        assert_eq!(base58(b"Hello World!"), "2NEpo7TZRRrLZSi2U");
        assert_eq!(base58(&[0u8; 32]), "11111111111111111111111111111111");
    }

    #[test]
    fn a_user_always_gets_the_same_two_wallets() {
        let a = wallets("7f1c0e1e-0000-4000-8000-000000000001");
        assert_eq!(a, wallets("7f1c0e1e-0000-4000-8000-000000000001"));
        assert_eq!(a.len(), 2);
        assert!(a[0].is_default && !a[1].is_default);
        assert!((43..=44).contains(&a[0].address.len()));
        assert_ne!(a[0].address, wallets("someone-else")[0].address);
        assert_eq!(signature("x").len(), signature("x").len());
        assert!(signature("x").len() >= 86);
    }
}
