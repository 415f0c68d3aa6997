//! Attacks on signing in: guessing one-time codes, burning email quota, replaying Turnstile tokens, planting flow cookies.
