//! The attack suite: each test is an attacker trying one way into someone's Dexter
//! account, wallets or approvals, against `connector serve` or the Lambda binaries, and
//! each must fail for the attacker. One module per surface; the findings they close are
//! listed in `docs/security.md`.

mod dexter;
mod inputs;
mod signin;
mod tokens;
