//! GPT actions under `/connector/chatgpt/`, each behind the bearer guard.

pub mod guard;
pub mod profile;
