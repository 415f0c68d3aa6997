//! `get_portfolio` (`GET /connector/chatgpt/get_portfolio`, scope `wallet:read`): the
//! user's managed wallets with SOL and SPL balances: `wallet/list_my_wallets`, then
//! `solana_list_balances` for every wallet on the page, concurrently.
//!
//! Bounded, so neither the fan-out nor the answer grows with the user's wallets
//! ([`super::fit`]):
//! - one call fetches balances for at most [`MAX_WALLETS_PER_CALL`] wallets (one MCP call
//!   each); the rest are reached with `offset` (`total`, `truncated`, `next_offset`);
//! - each wallet shows its [`BALANCES_PER_WALLET`] largest balances by USD value;
//!   `wallet=<address>` shows one wallet, its balances paged [`BALANCES_PER_PAGE`] at a
//!   time with `balances_offset`;
//! - every upstream item is cut to a byte budget. Worst case, a page of wallets is
//!   10 × (10 balances × 700 + portfolio 600 + address, label, receipt and counts ≤ 600),
//!   plus 11 receipt ids and the totals ≤ 1,000: 83,000 bytes; one wallet's page
//!   50 × 700 + 2,000 = 37,000, both under [`fit::ANSWER_BUDGET`].

use axum::Json;
use axum::http::Method;
use axum::routing::on;
use serde::Deserialize;
use serde_json::{Value, json};

use super::fit::{self, Limit, Offset, Page};
use super::input::Mint;
use super::schema::{mint, object, objects, uuid, with_receipts};
use super::{Action, ActionCall};
use crate::error::ApiError;
use crate::http::extract::Query;
use crate::mcp::McpError;
use crate::scope::Scope;

/// The most wallets one call fetches balances for: the fan-out cap.
pub const MAX_WALLETS_PER_CALL: usize = 10;
/// The balances each wallet shows on a page of wallets, the largest by USD value first.
pub const BALANCES_PER_WALLET: usize = 10;
/// The balances one page of a single wallet (`wallet=`) shows.
pub const BALANCES_PER_PAGE: usize = 50;
/// Byte budgets of what the upstream returns, per item.
const BALANCE_BYTES: usize = 700;
const WALLET_PORTFOLIO_BYTES: usize = 600;
const ADDRESS_BYTES: usize = 100;
const LABEL_BYTES: usize = 200;

pub const ACTION: Action = Action {
    name: "get_portfolio",
    method: Method::GET,
    scope: Scope::WalletRead,
    summary: "Managed wallets with SOL and SPL balances",
    description: "Lists the user's Dexter managed wallets (at most 10 per call; page with offset) with each wallet's 10 largest balances and USD values. For all of one wallet's balances, pass wallet (and balances_offset).",
    consequential: false,
    tools: &["wallet/list_my_wallets", "solana_list_balances"],
    query: &[
        (
            "offset",
            false,
            fit::offset_schema,
            "Skip this many wallets (default 0): pass next_offset to see the next wallets.",
        ),
        ("limit", false, wallet_limit, "How many wallets to show (1-10, default 10)."),
        (
            "wallet",
            false,
            mint,
            "Show only this wallet (an address from an earlier answer), with its balances paged 50 at a time.",
        ),
        (
            "balances_offset",
            false,
            fit::offset_schema,
            "With wallet: skip this many balances (pass balances_next_offset).",
        ),
    ],
    body: None,
    success: (200, portfolio),
    errors: &[],
    handler: |method| on(method, get_portfolio),
};

fn wallet_limit() -> Value {
    json!({ "type": "integer", "minimum": 1, "maximum": MAX_WALLETS_PER_CALL })
}

fn portfolio() -> Value {
    let mut page = fit::page_schema();
    page["wallets"] = json!({ "type": "array", "items": wallet() });
    page["total_value_usd"] =
        json!({ "type": "number", "description": "The USD value of the wallets in this answer." });
    page["partial"] =
        json!({ "type": "boolean", "description": "True when some wallets' balances could not be read." });
    with_receipts(page, &["wallets", "total_value_usd", "partial", "total", "returned", "truncated"])
}

fn wallet() -> Value {
    json!({
        "type": "object",
        "properties": {
            "address": mint(),
            "label": { "type": ["string", "null"] },
            "is_default": { "type": ["boolean", "null"] },
            "receipt_id": uuid(),
            "balances": objects(),
            "portfolio": object(),
            "balances_total": { "type": "integer", "description": "How many balances the wallet has." },
            "balances_returned": { "type": "integer" },
            "balances_offset": { "type": "integer" },
            "balances_truncated": { "type": "boolean", "description": "True when more balances follow: ask with wallet and balances_offset." },
            "balances_next_offset": { "type": ["integer", "null"] },
            "error": { "type": "string" },
        },
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PortfolioQuery {
    offset: Option<Offset>,
    limit: Option<Limit<MAX_WALLETS_PER_CALL>>,
    wallet: Option<Mint>,
    balances_offset: Option<Offset>,
}

/// Which wallets and balances one call shows.
enum View {
    /// A page of wallets, each with its largest balances.
    Wallets(Page),
    /// One wallet, a page of its balances.
    Wallet { address: Mint, balances: Page },
}

impl TryFrom<PortfolioQuery> for View {
    type Error = ApiError;

    fn try_from(query: PortfolioQuery) -> Result<View, ApiError> {
        match query.wallet {
            Some(_) if query.offset.is_some() || query.limit.is_some() => Err(ApiError::BadRequest(
                "wallet shows one wallet: it takes balances_offset, not offset or limit".into(),
            )),
            Some(address) => {
                Ok(View::Wallet { address, balances: Page::new(query.balances_offset, None, BALANCES_PER_PAGE) })
            }
            None if query.balances_offset.is_some() => {
                Err(ApiError::BadRequest("balances_offset pages one wallet's balances: pass wallet too".into()))
            }
            None => Ok(View::Wallets(Page::new(query.offset, query.limit.map(Limit::get), MAX_WALLETS_PER_CALL))),
        }
    }
}

#[tracing::instrument(skip_all)]
async fn get_portfolio(mut call: ActionCall, Query(query): Query<PortfolioQuery>) -> Result<Json<Value>, ApiError> {
    let view = View::try_from(query)?;
    call.entitled("wallet/list_my_wallets")?;
    call.entitled("solana_list_balances")?;

    let listed = call.tool("wallet/list_my_wallets", json!({})).await;
    let listed = match listed.result {
        Ok(value) => value,
        Err(e) => return Err(call.fail(e).await),
    };
    let Some(wallets) = listed["wallets"].as_array() else {
        return Err(call.fail(McpError::Protocol("list_my_wallets returned no wallets array".into())).await);
    };
    let (chosen, wallets_info, balances_page) = match &view {
        View::Wallets(page) => {
            let chosen = &wallets[page.range(wallets.len())];
            (chosen, page.info(wallets.len(), chosen.len()), Page { offset: 0, limit: BALANCES_PER_WALLET })
        }
        View::Wallet { address, balances } => {
            let Some(index) = wallets.iter().position(|w| w["address"].as_str() == Some(address.as_str())) else {
                return Err(call.refuse(ApiError::Missing("no managed wallet of this user has this address")).await);
            };
            let only = Page { offset: 0, limit: 1 };
            (&wallets[index..=index], only.info(1, 1), *balances)
        }
    };
    let chosen = chosen.to_vec();
    let requests = chosen
        .iter()
        .map(|w| ("solana_list_balances", json!({ "wallet_address": w["address"], "min_ui": 0, "limit": 100 })))
        .collect();
    let outcomes = call.tools(requests).await;

    let mut total_usd = 0.0;
    let mut failures = 0;
    let mut first_error = None;
    let mut out = Vec::with_capacity(chosen.len());
    for (wallet, outcome) in chosen.iter().zip(outcomes) {
        let mut entry = json!({
            "address": fit::item(&wallet["address"], ADDRESS_BYTES),
            "label": fit::item(&wallet["label"], LABEL_BYTES),
            "is_default": wallet["is_default"].as_bool(),
            "receipt_id": outcome.receipt_id,
        });
        match outcome.result {
            Ok(balances) => {
                total_usd += balances["portfolio"]["totalValueUsd"].as_f64().unwrap_or(0.0);
                let (shown, info) = fit::paged(&largest_first(&balances["balances"]), balances_page, BALANCE_BYTES);
                entry["balances"] = json!(shown);
                entry["portfolio"] = fit::item(&balances["portfolio"], WALLET_PORTFOLIO_BYTES);
                if let Some(entry) = entry.as_object_mut() {
                    entry.extend(info.into_iter().map(|(k, v)| (format!("balances_{k}"), v)));
                }
            }
            Err(e) => {
                failures += 1;
                entry["error"] = json!(e.receipt_status());
                first_error.get_or_insert(e);
            }
        }
        out.push(entry);
    }
    // Some wallets' balances are better than none; no balances at all is a failure.
    if let Some(e) = first_error
        && failures == out.len()
    {
        return Err(call.fail(e).await);
    }
    let body = json!({
        "wallets": out,
        "total_value_usd": (total_usd * 100.0).round() / 100.0,
        "partial": failures > 0,
    });
    Ok(Json(call.finish(fit::with_page(body, wallets_info)).await?))
}

/// The balances, the largest USD value first (those without a value last, in the
/// upstream's order).
fn largest_first(balances: &Value) -> Value {
    let mut all: Vec<Value> = balances.as_array().cloned().unwrap_or_default();
    let value = |b: &Value| b["portfolio"]["valueUsd"].as_f64().filter(|v| v.is_finite()).unwrap_or(f64::NEG_INFINITY);
    all.sort_by(|a, b| value(b).total_cmp(&value(a)));
    Value::Array(all)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn balances_come_largest_first() {
        let balances = json!([
            { "mint": "a", "portfolio": { "valueUsd": 1.0 } },
            { "mint": "b" },
            { "mint": "c", "portfolio": { "valueUsd": 50.0 } },
        ]);
        let sorted = largest_first(&balances);
        let order: Vec<&str> = sorted.as_array().unwrap().iter().map(|b| b["mint"].as_str().unwrap()).collect();
        assert_eq!(order, ["c", "a", "b"]);
    }

    #[test]
    fn a_wallet_view_takes_only_its_own_paging() {
        let query = |q: &str| {
            let uri: axum::http::Uri = format!("/connector/chatgpt/get_portfolio?{q}").parse().unwrap();
            axum::extract::Query::<PortfolioQuery>::try_from_uri(&uri).map(|q| q.0).map_err(|e| e.to_string())
        };
        let wallet = "So11111111111111111111111111111111111111112";
        assert!(matches!(View::try_from(query("").unwrap()), Ok(View::Wallets(Page { offset: 0, limit: 10 }))));
        assert!(View::try_from(query(&format!("wallet={wallet}&offset=3")).unwrap()).is_err());
        assert!(View::try_from(query("balances_offset=3").unwrap()).is_err());
        assert!(matches!(
            View::try_from(query(&format!("wallet={wallet}&balances_offset=50")).unwrap()),
            Ok(View::Wallet { balances: Page { offset: 50, limit: BALANCES_PER_PAGE }, .. })
        ));
        for bad in ["offset=-1", "limit=11", "limit=0", "offset=abc", "offset=10001", "wallet=nope"] {
            assert!(query(bad).is_err(), "{bad}");
        }
    }
}
