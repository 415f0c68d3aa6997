//! The tools, with dexter-mcp's names, argument fields and result shapes
//! (`docs/dexter-mcp.md`, "Tools the actions use"), answering from [`crate::data`].
//!
//! Results are `structuredContent` plus a text content holding the same JSON
//! ([`CallToolResult::structured`]); failures are `isError: true` results whose text is
//! dexter-mcp's bare error code (`wallet_address_required`, `unknown_token`,
//! `insufficient_balance`, …). Arguments that do not even deserialize are JSON-RPC
//! invalid-params errors, as rmcp answers them.
//!
//! Wallets: `solana_list_balances` needs `wallet_address`, or a `wallet_public_key` claim in
//! the bearer ("none in session" → `wallet_address_required`); the swap tools fall back to
//! the user's default wallet. A wallet that is not one of the caller's is `wallet_not_found`.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use http::request::Parts;
use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::tool::Extension;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{CallToolResult, ContentBlock, Implementation, ServerCapabilities, ServerConfig};
use rmcp::{ErrorData, ServerHandler, schemars, tool, tool_handler, tool_router};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::data::{self, Token};
use crate::{Caller, State};

/// The fee Dexter takes from a swap's output, in basis points.
pub const FEE_BPS: u64 = 25;
/// The slippage a swap tolerates when the caller names none.
pub const DEFAULT_SLIPPAGE_BPS: u64 = 50;
/// The most alerts one user may hold.
pub const MAX_ALERTS_PER_USER: usize = 1000;
/// When the pump.fun snapshot was "taken": fixed, so results are reproducible.
const GENERATED_AT: &str = "2026-11-25T12:00:00Z";

type ToolOutcome = Result<CallToolResult, ErrorData>;

/// One MCP session's server: every session shares the sandbox [`State`].
#[derive(Clone)]
pub(crate) struct SandboxServer {
    tool_router: ToolRouter<SandboxServer>,
    state: Arc<State>,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub(crate) struct ListBalancesArgs {
    /// The wallet to list; defaults to the session's wallet.
    wallet_address: Option<String>,
    /// Hide balances below this UI amount.
    min_ui: Option<f64>,
    /// The most balances returned (1–100, default 30).
    limit: Option<u32>,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub(crate) struct ResolveTokenArgs {
    /// A symbol, name or mint address.
    query: String,
    /// The most results (1–10, default 5).
    limit: Option<u32>,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub(crate) struct SwapArgs {
    input_mint: String,
    output_mint: String,
    /// `ExactIn` (spend `amount_ui`) or `ExactOut` (receive `desired_output_ui`).
    mode: String,
    amount_ui: Option<f64>,
    desired_output_ui: Option<f64>,
    /// Defaults to the user's default wallet.
    wallet_address: Option<String>,
    /// Tolerated slippage (0–5000, default 50).
    slippage_bps: Option<u64>,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub(crate) struct SearchArgs {
    query: String,
    /// 1–10, default 5.
    max_results: Option<u32>,
    include_answer: Option<bool>,
    /// `basic` or `advanced`.
    search_depth: Option<String>,
    /// `d`, `w`, `m` or `y`.
    time_range: Option<String>,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub(crate) struct PumpstreamArgs {
    /// 1–100, default 25.
    limit: Option<u32>,
    /// `marketCap` (default) or `viewers`.
    sort: Option<String>,
    /// `live` or `all`.
    status: Option<String>,
    #[serde(rename = "minMarketCapUsd")]
    #[schemars(rename = "minMarketCapUsd")]
    min_market_cap_usd: Option<f64>,
    /// Matches names and symbols.
    search: Option<String>,
    symbols: Option<Vec<String>>,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub(crate) struct AlertsListArgs {
    /// `active` (default) or `all`.
    status: Option<String>,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub(crate) struct AlertsCreateArgs {
    /// The token's mint address.
    mint: String,
    /// `price` (default) or `volume`.
    kind: Option<String>,
    /// `above` or `below`.
    direction: String,
    /// USD price, or USD 24h volume.
    threshold: f64,
}

/// A swap priced from the sandbox's market.
struct Quote {
    wallet: String,
    mode: &'static str,
    input: &'static Token,
    output: &'static Token,
    input_raw: u64,
    gross_output_raw: u64,
    fee_raw: u64,
    net_output_raw: u64,
    price_impact_pct: f64,
    slippage_bps: u64,
    other_amount_threshold: u64,
    /// More input than the wallet holds.
    insufficient: bool,
}

#[tool_router]
impl SandboxServer {
    pub(crate) fn new(state: Arc<State>) -> SandboxServer {
        SandboxServer { tool_router: Self::tool_router(), state }
    }

    #[tool(description = "List the managed Solana wallets of the signed-in Dexter user.")]
    async fn list_my_wallets(&self, Extension(parts): Extension<Parts>) -> ToolOutcome {
        let caller = self.enter(&parts, "list_my_wallets")?;
        let padding = self.padding();
        let wallets: Vec<Value> = self
            .wallets(&caller.user_id)
            .into_iter()
            .map(|w| {
                json!({
                    "address": w.address,
                    "public_key": w.address,
                    "label": format!("{}{padding}", w.label),
                    "is_default": w.is_default,
                    "status": "ready",
                })
            })
            .collect();
        ok(json!({ "user": { "id": caller.user_id }, "wallets": wallets }))
    }

    #[tool(description = "SOL and SPL token balances of a wallet, with USD valuations.")]
    async fn solana_list_balances(
        &self,
        Extension(parts): Extension<Parts>,
        Parameters(args): Parameters<ListBalancesArgs>,
    ) -> ToolOutcome {
        let caller = self.enter(&parts, "solana_list_balances")?;
        let Some(wallet) = present(args.wallet_address).or(caller.wallet_public_key.clone()) else {
            return fail("wallet_address_required");
        };
        if !self.owns(&caller, &wallet) {
            return fail("wallet_not_found");
        }
        let oversize = self.state.oversize();
        if oversize.balances > 0 {
            return ok(oversized_balances(&wallet, oversize.balances, &self.padding()));
        }
        let mut holdings = data::holdings(&wallet);
        holdings.sort_by(|a, b| b.value_usd().total_cmp(&a.value_usd()));
        let total_usd: f64 = holdings.iter().map(data::Holding::value_usd).sum();
        let min_ui = args.min_ui.filter(|m| m.is_finite()).unwrap_or(0.0);
        let limit = args.limit.unwrap_or(30).clamp(1, 100) as usize;
        let balances: Vec<Value> = holdings
            .iter()
            .filter(|h| h.amount_ui() >= min_ui)
            .take(limit)
            .map(|h| {
                let token = h.token;
                let value_usd = h.value_usd();
                let yesterday = value_usd / (1.0 + token.price_change_24h_pct / 100.0);
                let mut balance = json!({
                    "mint": token.mint,
                    "ata": data::token_account(&wallet, token.mint),
                    "amountRaw": h.amount_raw.to_string(),
                    "amountUi": h.amount_ui(),
                    "decimals": token.decimals,
                    "token": { "symbol": token.symbol, "name": token.name, "priceUsd": token.price_usd },
                    "portfolio": {
                        "valueUsd": data::round(value_usd, 2),
                        "valueSol": data::round(value_usd / data::sol().price_usd, 6),
                        "sharePercent": data::round(100.0 * value_usd / total_usd, 2),
                        "changeUsd24h": data::round(value_usd - yesterday, 2),
                    },
                });
                if token.mint == data::SOL_MINT {
                    balance["isNative"] = json!(true);
                }
                balance
            })
            .collect();
        ok(json!({
            "balances": balances,
            "portfolio": { "totalValueUsd": data::round(total_usd, 2), "pricedCount": holdings.len(), "unpricedCount": 0 },
        }))
    }

    #[tool(description = "Find Solana tokens by symbol, name or mint, with market data.")]
    async fn solana_resolve_token(
        &self,
        Extension(parts): Extension<Parts>,
        Parameters(args): Parameters<ResolveTokenArgs>,
    ) -> ToolOutcome {
        self.enter(&parts, "solana_resolve_token")?;
        let query = args.query.trim().to_lowercase();
        if query.is_empty() {
            return fail("query_required");
        }
        let oversize = self.state.oversize();
        if oversize.results > 0 {
            let padding = self.padding();
            let results: Vec<Value> = (0..oversize.results)
                .map(|i| {
                    json!({
                        "address": data::pump_mint(&format!("{query}/{i}")),
                        "symbol": format!("R{i}"),
                        "name": format!("Resolved {i} {padding}"),
                        "decimals": 6,
                        "liquidityUsd": 1000.0 + i as f64,
                        "volume24hUsd": 100.0,
                        "priceUsd": 0.01,
                    })
                })
                .collect();
            return ok(json!({ "results": results }));
        }
        let limit = args.limit.unwrap_or(5).clamp(1, 10) as usize;
        let mut matches: Vec<&Token> = data::TOKENS
            .iter()
            .filter(|t| {
                t.mint.to_lowercase() == query
                    || t.symbol.to_lowercase().contains(&query)
                    || t.name.to_lowercase().contains(&query)
            })
            .collect();
        matches.sort_by(|a, b| b.liquidity_usd.total_cmp(&a.liquidity_usd));
        let results: Vec<Value> = matches
            .into_iter()
            .take(limit)
            .map(|t| {
                json!({
                    "address": t.mint,
                    "symbol": t.symbol,
                    "name": t.name,
                    "decimals": t.decimals,
                    "liquidityUsd": t.liquidity_usd,
                    "volume24hUsd": t.volume_24h_usd,
                    "priceUsd": t.price_usd,
                    "priceChange": { "h24": t.price_change_24h_pct },
                    "marketCap": t.market_cap_usd,
                    "fdv": t.fdv_usd,
                })
            })
            .collect();
        ok(json!({ "results": results }))
    }

    #[tool(description = "Quote a swap between two tokens without executing it.")]
    async fn solana_swap_preview(
        &self,
        Extension(parts): Extension<Parts>,
        Parameters(args): Parameters<SwapArgs>,
    ) -> ToolOutcome {
        let caller = self.enter(&parts, "solana_swap_preview")?;
        match quote(&caller, &self.wallets(&caller.user_id), &args) {
            Ok(quote) => ok(quote.to_json()),
            Err(code) => fail(code),
        }
    }

    #[tool(description = "Execute a swap from one of the user's managed wallets, at once.")]
    async fn solana_swap_execute(
        &self,
        Extension(parts): Extension<Parts>,
        Parameters(args): Parameters<SwapArgs>,
    ) -> ToolOutcome {
        let caller = self.enter(&parts, "solana_swap_execute")?;
        let quote = match quote(&caller, &self.wallets(&caller.user_id), &args) {
            Ok(quote) if quote.insufficient => return fail("insufficient_balance"),
            Ok(quote) => quote,
            Err(code) => return fail(code),
        };
        let sequence = self.state.executions.fetch_add(1, Ordering::Relaxed) + 1;
        let signature = data::signature(&format!(
            "{}/{sequence}/{}/{}/{}",
            caller.user_id, quote.input.mint, quote.output.mint, quote.input_raw
        ));
        let mut result = quote.to_json();
        result["signature"] = json!(signature);
        result["solscanUrl"] = json!(format!("https://solscan.io/tx/{signature}"));
        result["status"] = json!("confirmed");
        ok(result)
    }

    #[tool(description = "Search pump.fun dossiers, market snapshots and Dexter's knowledge base.")]
    async fn search(
        &self,
        Extension(parts): Extension<Parts>,
        Parameters(args): Parameters<SearchArgs>,
    ) -> ToolOutcome {
        self.enter(&parts, "search")?;
        let query = args.query.trim();
        if query.is_empty() {
            return fail("query_required");
        }
        // Accepted for fidelity with dexter-mcp; the sandbox's corpus has no depth or dates.
        let _ = (&args.search_depth, &args.time_range);
        let slug: String = query
            .to_lowercase()
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
            .collect::<String>()
            .split('-')
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join("-");
        let pages = [
            (
                format!("{query}: market snapshot"),
                format!("https://dexter.cash/markets/{slug}"),
                format!("Price, liquidity and 24h volume for {query} across Solana DEXes, refreshed every minute."),
                0.93,
                "2026-11-20T14:05:00Z",
            ),
            (
                format!("{query}: pump.fun dossier"),
                format!("https://dexter.cash/dossiers/{slug}"),
                format!("Launch history, holder concentration and creator wallet activity around {query}."),
                0.87,
                "2026-11-18T09:30:00Z",
            ),
            (
                format!("What Dexter knows about {query}"),
                format!("https://docs.dexter.cash/kb/{slug}"),
                format!("Knowledge-base answer: how {query} relates to Dexter's wallets, swaps and alerts."),
                0.79,
                "2026-10-02T00:00:00Z",
            ),
        ];
        let oversize = self.state.oversize();
        if oversize.results > 0 {
            let padding = self.padding();
            let results: Vec<Value> = (0..oversize.results)
                .map(|i| {
                    json!({
                        "id": format!("res_{}", data::short_hash(&format!("{query}/{i}"))),
                        "title": format!("{query}: result {i}"),
                        "url": format!("https://dexter.cash/search/{slug}/{i}"),
                        "snippet": format!("Result {i} about {query}. {padding}"),
                        "score": 0.5,
                        "published_at": "2026-11-20T14:05:00Z",
                    })
                })
                .collect();
            let answer = format!("Dexter found {} results for \"{query}\". {padding}", oversize.results);
            return ok(json!({ "query": query, "answer": answer, "results": results }));
        }
        let count = args.max_results.unwrap_or(5).clamp(1, 10) as usize;
        let results: Vec<Value> = pages
            .iter()
            .enumerate()
            .take(count)
            .map(|(i, (title, url, snippet, score, published_at))| {
                json!({
                    "id": format!("res_{}", data::short_hash(&format!("{query}/{i}"))),
                    "title": title,
                    "url": url,
                    "snippet": snippet,
                    "score": score,
                    "published_at": published_at,
                })
            })
            .collect();
        let answer = args.include_answer.unwrap_or(true).then(|| {
            format!("Dexter found a market snapshot, a pump.fun dossier and a knowledge-base entry for \"{query}\".")
        });
        ok(json!({ "query": query, "answer": answer, "results": results }))
    }

    #[tool(description = "Live pump.fun streams with their tokens' market caps and viewers.")]
    async fn pumpstream_live_summary(
        &self,
        Extension(parts): Extension<Parts>,
        Parameters(args): Parameters<PumpstreamArgs>,
    ) -> ToolOutcome {
        self.enter(&parts, "pumpstream_live_summary")?;
        const STREAMS: &[(&str, &str, f64, u64)] = &[
            ("Moon Cat", "MCAT", 2_450_000.0, 1_840),
            ("Degen Radio", "DRADIO", 890_000.0, 3_120),
            ("Solana Summer", "SUMMER", 5_600_000.0, 960),
            ("Pixel Frogs", "PFROG", 310_000.0, 420),
            ("Late Night Trenches", "TRENCH", 1_230_000.0, 2_270),
            ("Gigachad Cooking", "CHEF", 75_000.0, 88),
        ];
        let by_viewers = match args.sort.as_deref().unwrap_or("marketCap") {
            "marketCap" => false,
            "viewers" => true,
            _ => return fail("invalid_sort"),
        };
        let status = args.status.as_deref().unwrap_or("live");
        let search = args.search.as_deref().map(str::to_lowercase).filter(|s| !s.is_empty());
        let symbols: Option<Vec<String>> =
            args.symbols.map(|list| list.iter().map(|s| s.trim().to_uppercase()).collect());
        let min_cap = args.min_market_cap_usd.unwrap_or(0.0);
        let mut streams: Vec<&(&str, &str, f64, u64)> = STREAMS
            .iter()
            .filter(|_| status == "live" || status == "all")
            .filter(|(_, _, cap, _)| *cap >= min_cap)
            .filter(|(name, symbol, _, _)| {
                search.as_ref().is_none_or(|s| name.to_lowercase().contains(s) || symbol.to_lowercase().contains(s))
            })
            .filter(|(_, symbol, _, _)| symbols.as_ref().is_none_or(|list| list.iter().any(|s| s == symbol)))
            .collect();
        if by_viewers {
            streams.sort_by_key(|s| std::cmp::Reverse(s.3));
        } else {
            streams.sort_by(|a, b| b.2.total_cmp(&a.2));
        }
        let total = streams.len();
        let limit = args.limit.unwrap_or(25).clamp(1, 100) as usize;
        let streams: Vec<Value> = streams
            .into_iter()
            .take(limit)
            .map(|(name, symbol, cap, viewers)| {
                let mint = data::pump_mint(symbol);
                json!({
                    "mint": mint,
                    "symbol": symbol,
                    "name": name,
                    "status": "live",
                    "marketCapUsd": cap,
                    "viewers": viewers,
                    "url": format!("https://pump.fun/coin/{mint}"),
                    "startedAt": "2026-11-25T10:30:00Z",
                })
            })
            .collect();
        ok(json!({
            "generatedAt": GENERATED_AT,
            "totalAvailable": total,
            "totalReturned": streams.len(),
            "streams": streams,
        }))
    }

    #[tool(description = "The user's price and volume alerts.")]
    async fn alerts_list(
        &self,
        Extension(parts): Extension<Parts>,
        Parameters(args): Parameters<AlertsListArgs>,
    ) -> ToolOutcome {
        let caller = self.enter(&parts, "alerts_list")?;
        let all = match args.status.as_deref().unwrap_or("active") {
            "active" => false,
            "all" => true,
            _ => return fail("invalid_status"),
        };
        let padding = self.padding();
        let mut alerts: Vec<Value> = (0..self.state.oversize().alerts)
            .map(|i| {
                json!({
                    "id": format!("alrt_many_{i}"),
                    "mint": data::SOL_MINT,
                    "symbol": format!("SOL {padding}"),
                    "kind": "price",
                    "direction": "above",
                    "threshold": 100.0 + i as f64,
                    "status": "active",
                    "created_at": GENERATED_AT,
                })
            })
            .collect();
        alerts.extend(
            self.state
                .alerts()
                .get(&caller.user_id)
                .map(|alerts| alerts.iter().filter(|a| all || a["status"] == "active").cloned().collect::<Vec<_>>())
                .unwrap_or_default(),
        );
        ok(json!({ "count": alerts.len(), "alerts": alerts }))
    }

    #[tool(description = "Create a price or volume alert on a token.")]
    async fn alerts_create(
        &self,
        Extension(parts): Extension<Parts>,
        Parameters(args): Parameters<AlertsCreateArgs>,
    ) -> ToolOutcome {
        let caller = self.enter(&parts, "alerts_create")?;
        let Some(token) = data::token_by_mint(args.mint.trim()) else {
            return fail("unknown_token");
        };
        let kind = args.kind.as_deref().unwrap_or("price");
        if kind != "price" && kind != "volume" {
            return fail("invalid_kind");
        }
        if args.direction != "above" && args.direction != "below" {
            return fail("invalid_direction");
        }
        if !args.threshold.is_finite() || args.threshold <= 0.0 {
            return fail("invalid_threshold");
        }
        let mut alerts = self.state.alerts();
        let mine = alerts.entry(caller.user_id.clone()).or_default();
        if mine.len() >= MAX_ALERTS_PER_USER {
            return fail("alert_limit_reached");
        }
        let sequence = self.state.alert_sequence.fetch_add(1, Ordering::Relaxed) + 1;
        let alert = json!({
            "id": format!("alrt_{}", data::short_hash(&format!("{}/{sequence}", caller.user_id))),
            "mint": token.mint,
            "symbol": token.symbol,
            "kind": kind,
            "direction": args.direction,
            "threshold": args.threshold,
            "status": "active",
            "created_at": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        });
        mine.push(alert.clone());
        ok(json!({ "alert": alert }))
    }
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for SandboxServer {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new("dexter-mcp-sandbox", env!("CARGO_PKG_VERSION")))
            .with_instructions("A sandbox of Dexter's MCP server: deterministic wallets, balances, quotes and alerts.")
    }
}

impl SandboxServer {
    /// The user's managed wallets: the usual two, or as many as [`crate::Oversize`] says.
    fn wallets(&self, user_id: &str) -> Vec<data::Wallet> {
        let mut wallets = data::wallets(user_id);
        let more = self.state.oversize().wallets;
        let extra = (wallets.len()..more).map(|i| data::Wallet {
            address: data::wallet_address(user_id, i),
            label: "Extra",
            is_default: false,
        });
        wallets.extend(extra.collect::<Vec<_>>());
        wallets
    }

    fn owns(&self, caller: &Caller, wallet: &str) -> bool {
        self.wallets(&caller.user_id).iter().any(|w| w.address == wallet)
    }

    /// What [`crate::Oversize::padding`] appends to texts.
    fn padding(&self) -> String {
        "é".repeat(self.state.oversize().padding)
    }

    /// The caller the gate authenticated, counting the call.
    fn enter(&self, parts: &Parts, tool: &str) -> Result<Caller, ErrorData> {
        self.state.count_call(tool);
        parts
            .extensions
            .get::<Caller>()
            .cloned()
            .ok_or_else(|| ErrorData::internal_error("the request did not pass the sandbox's bearer check", None))
    }
}

impl Quote {
    fn to_json(&self) -> Value {
        let amount = |token: &Token, raw: u64| {
            json!({
                "mint": token.mint,
                "symbol": token.symbol,
                "amountRaw": raw.to_string(),
                "amountUi": data::ui(raw, token.decimals),
                "decimals": token.decimals,
            })
        };
        let usd = |token: &Token, raw: u64| data::round(data::ui(raw, token.decimals) * token.price_usd, 2);
        let mut warnings = Vec::new();
        if self.price_impact_pct > 1.0 {
            warnings.push("high_price_impact");
        }
        if self.insufficient {
            warnings.push("insufficient_balance");
        }
        let mut fee = amount(self.output, self.fee_raw);
        fee["bps"] = json!(FEE_BPS);
        json!({
            "walletAddress": self.wallet,
            "mode": self.mode,
            "input": amount(self.input, self.input_raw),
            "output": amount(self.output, self.gross_output_raw),
            "netOutput": amount(self.output, self.net_output_raw),
            "fee": fee,
            "priceImpactPct": self.price_impact_pct,
            "slippageBps": self.slippage_bps,
            "otherAmountThreshold": self.other_amount_threshold.to_string(),
            "warnings": warnings,
            "valuations": {
                "inputUsd": usd(self.input, self.input_raw),
                "outputUsd": usd(self.output, self.gross_output_raw),
                "netOutputUsd": usd(self.output, self.net_output_raw),
            },
        })
    }
}

/// Prices a swap: the pool moves 1% per $50,000 traded, Dexter keeps [`FEE_BPS`] of the
/// output. `otherAmountThreshold` is the least output (`ExactIn`) or the most input
/// (`ExactOut`) the slippage allows, as in Jupiter's quotes.
fn quote(caller: &Caller, wallets: &[data::Wallet], args: &SwapArgs) -> Result<Quote, &'static str> {
    let input = data::token_by_mint(args.input_mint.trim()).ok_or("unknown_token")?;
    let output = data::token_by_mint(args.output_mint.trim()).ok_or("unknown_token")?;
    if input.mint == output.mint {
        return Err("same_token");
    }
    let slippage_bps = args.slippage_bps.unwrap_or(DEFAULT_SLIPPAGE_BPS);
    if slippage_bps > 5_000 {
        return Err("invalid_slippage");
    }
    let wallet = match present(args.wallet_address.clone()).or(caller.wallet_public_key.clone()) {
        Some(wallet) if wallets.iter().any(|w| w.address == wallet) => wallet,
        Some(_) => return Err("wallet_not_found"),
        None => wallets.iter().find(|w| w.is_default).map(|w| w.address.clone()).ok_or("wallet_not_found")?,
    };
    let positive = |amount: Option<f64>| amount.filter(|a| a.is_finite() && *a > 0.0).ok_or("amount_required");
    let impact = |usd: f64| data::round((usd / 50_000.0).min(50.0), 4);
    let bps = |raw: u64, bps: u64| (u128::from(raw) * u128::from(bps) / 10_000) as u64;

    let (mode, input_raw, gross_output_raw, fee_raw, net_output_raw, price_impact_pct, threshold) =
        match args.mode.as_str() {
            "ExactIn" => {
                // Amounts below one raw unit round up to one, as a router quoting dust would
                // (and so fuzzed dust amounts exercise the connector, not this error).
                let input_raw = data::raw(positive(args.amount_ui)?, input.decimals).max(1);
                let usd_in = data::ui(input_raw, input.decimals) * input.price_usd;
                let price_impact = impact(usd_in);
                let gross = data::raw(usd_in * (1.0 - price_impact / 100.0) / output.price_usd, output.decimals).max(1);
                let fee = bps(gross, FEE_BPS);
                let net = gross - fee;
                ("ExactIn", input_raw, gross, fee, net, price_impact, bps(net, 10_000 - slippage_bps))
            }
            "ExactOut" => {
                let net = data::raw(positive(args.desired_output_ui)?, output.decimals).max(1);
                // The gross output whose fee leaves `net`, rounded up.
                let gross = (u128::from(net) * 10_000).div_ceil(u128::from(10_000 - FEE_BPS)) as u64;
                let usd_out = data::ui(gross, output.decimals) * output.price_usd;
                let price_impact = impact(usd_out);
                let input_ui = usd_out / (1.0 - price_impact / 100.0) / input.price_usd;
                let input_raw = ((input_ui * 10f64.powi(input.decimals as i32)).ceil() as u64).max(1);
                ("ExactOut", input_raw, gross, gross - net, net, price_impact, bps(input_raw, 10_000 + slippage_bps))
            }
            _ => return Err("invalid_mode"),
        };
    if input_raw == 0 || net_output_raw == 0 {
        return Err("amount_too_small");
    }
    let held = data::holdings(&wallet).iter().find(|h| h.token.mint == input.mint).map_or(0, |h| h.amount_raw);
    Ok(Quote {
        wallet,
        mode,
        input,
        output,
        input_raw,
        gross_output_raw,
        fee_raw,
        net_output_raw,
        price_impact_pct,
        slippage_bps,
        other_amount_threshold: threshold,
        insufficient: input_raw > held,
    })
}

/// `n` balances of synthetic tokens, worth $1 to $n (the largest last, so a client that
/// shows the largest first must reorder), names padded with `padding`.
fn oversized_balances(wallet: &str, n: usize, padding: &str) -> Value {
    let balances: Vec<Value> = (0..n)
        .map(|i| {
            let mint = data::pump_mint(&format!("{wallet}/{i}"));
            let value_usd = (i + 1) as f64;
            json!({
                "mint": mint,
                "ata": data::token_account(wallet, &mint),
                "amountRaw": ((i + 1) * 1_000_000).to_string(),
                "amountUi": value_usd,
                "decimals": 6,
                "token": { "symbol": format!("T{i}"), "name": format!("Token {i} {padding}"), "priceUsd": 1.0 },
                "portfolio": { "valueUsd": value_usd, "valueSol": value_usd / 150.0, "sharePercent": 0.0, "changeUsd24h": 0.0 },
            })
        })
        .collect();
    let total: f64 = (1..=n).map(|i| i as f64).sum();
    json!({ "balances": balances, "portfolio": { "totalValueUsd": total, "pricedCount": n, "unpricedCount": 0 } })
}

fn present(value: Option<String>) -> Option<String> {
    value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
}

fn ok(value: Value) -> ToolOutcome {
    Ok(CallToolResult::structured(value))
}

fn fail(code: &str) -> ToolOutcome {
    Ok(CallToolResult::error(vec![ContentBlock::text(code)]))
}
