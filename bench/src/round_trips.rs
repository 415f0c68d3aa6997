//! Phase 5: database round trips per action and per token request, counted on the wire by
//! a proxy in front of Postgres (`pgproxy`).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use secrecy::SecretString;
use serde_json::json;
use shared::store::Profile;

use crate::procs::Host;
use crate::report::{Report, RoundTripCount};
use crate::{Bench, REDIRECT_URI, expect_ok, pgproxy, token_request};

/// Counts what reached the sandbox's `/mcp`, and the database round trips at that moment.
#[derive(Default)]
struct McpArrivals {
    counter: Mutex<Option<Arc<pgproxy::RoundTrips>>>,
    arrivals: Mutex<Vec<u64>>,
}

async fn note_arrival(
    axum::extract::State(hook): axum::extract::State<Arc<McpArrivals>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    if request.method() == http::Method::POST {
        let count = hook.counter.lock().unwrap_or_else(|e| e.into_inner()).as_ref().map_or(0, |c| c.count());
        hook.arrivals.lock().unwrap_or_else(|e| e.into_inner()).push(count);
    }
    next.run(request).await
}

pub async fn round_trips(bench: &Bench<'_>, report: &mut Report) -> anyhow::Result<()> {
    println!("\n[5/5] database round trips (counted by a proxy in front of Postgres)");
    let upstream: SocketAddr = bench.db.socket_addr()?;
    let (proxy_addr, counter) = pgproxy::start(upstream).await?;
    let proxied_url = bench.db.url_via(proxy_addr);

    // A sandbox in this process, so the count can be read the moment the tool call arrives.
    let hook: Arc<McpArrivals> = Arc::default();
    *hook.counter.lock().unwrap_or_else(|e| e.into_inner()) = Some(counter.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let mcp_url = format!("http://{}/mcp", listener.local_addr()?);
    let (router, handle) = sandbox_mcp::router(
        SecretString::from(bench.mcp_secret.clone()),
        mcp_url.clone(),
        sandbox_mcp::SandboxOptions { json_response: true, ..Default::default() },
    );
    let router = router.layer(axum::middleware::from_fn_with_state(hook.clone(), note_arrival));
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    let connector = Host::start("connector", &bench.connector_env(&proxied_url, &mcp_url)).await?;

    let (_user, _grant, token) = bench.linked_user().await?;
    let action_url = format!("{}/connector/chatgpt/resolve_token?query=SOL&limit=5", connector.address);
    // Warm: the pool's connection and the user's MCP session exist before counting.
    for _ in 0..3 {
        expect_ok(bench.http.get(&action_url).bearer_auth(&token)).await.map_err(|e| anyhow::anyhow!("{e}"))?;
    }
    let mut per_request = Vec::new();
    for i in 0..20 {
        hook.arrivals.lock().unwrap_or_else(|e| e.into_inner()).clear();
        if i == 0 {
            counter.record(true);
        }
        let start = counter.count();
        expect_ok(bench.http.get(&action_url).bearer_auth(&token)).await.map_err(|e| anyhow::anyhow!("{e}"))?;
        // The receipt is written before the response is sent; allow the proxy to see it.
        tokio::time::sleep(Duration::from_millis(5)).await;
        let end = counter.count();
        let arrivals = hook.arrivals.lock().unwrap_or_else(|e| e.into_inner()).clone();
        if i == 0 {
            counter.record(false);
            let at_mcp = arrivals.first().copied().unwrap_or(end);
            report.action_sql = counter
                .recorded()
                .into_iter()
                .map(|(n, sql)| (if n <= at_mcp { "before" } else { "after" }, sql))
                .collect();
        }
        let at_mcp = arrivals.first().copied().unwrap_or(end);
        per_request.push(RoundTripCount { mcp_posts: arrivals.len(), before: at_mcp - start, after: end - at_mcp });
    }
    report.action_round_trips = per_request;

    // The token endpoint, for the record.
    let basic = bench.basic_auth();
    let token_url = format!("{}/oauth/chatgpt/token", connector.address);
    let user_id = shared::UserId::random();
    bench
        .store
        .upsert_profile(&Profile { user_id, email: None, tier: "pro".into(), channels: json!({ "chatgpt": true }) })
        .await?;
    // Warm the token path once.
    let code = bench.new_code(user_id).await?;
    let mut refresh = token_request(
        &bench.http,
        &token_url,
        &basic,
        &[("grant_type", "authorization_code"), ("code", &code), ("redirect_uri", REDIRECT_URI)],
    )
    .await
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    let code = bench.new_code(user_id).await?;
    counter.record(true);
    let start = counter.count();
    token_request(
        &bench.http,
        &token_url,
        &basic,
        &[("grant_type", "authorization_code"), ("code", &code), ("redirect_uri", REDIRECT_URI)],
    )
    .await
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    tokio::time::sleep(Duration::from_millis(5)).await;
    report.exchange_round_trips = counter.count() - start;
    report.exchange_sql = counter.recorded().into_iter().map(|(_, s)| s).collect();
    counter.record(true);
    let start = counter.count();
    refresh =
        token_request(&bench.http, &token_url, &basic, &[("grant_type", "refresh_token"), ("refresh_token", &refresh)])
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
    let _ = refresh;
    tokio::time::sleep(Duration::from_millis(5)).await;
    report.refresh_round_trips = counter.count() - start;
    report.refresh_sql = counter.recorded().into_iter().map(|(_, s)| s).collect();
    counter.record(false);
    let summary = report.action_round_trip_summary();
    println!(
        "  resolve_token: {} before the MCP call, {} after; code exchange {}, refresh {}",
        summary.0, summary.1, report.exchange_round_trips, report.refresh_round_trips
    );

    drop(connector);
    handle.shutdown();
    server.abort();
    Ok(())
}
