//! Phase 2, OAuth: authorization-code exchanges and refresh-token rotations at the token
//! endpoint, on Postgres.

use std::sync::{Arc, Mutex};

use anyhow::bail;
use serde_json::json;
use shared::store::Profile;

use crate::procs::Host;
use crate::report::{OAuthCell, Report};
use crate::stats;
use crate::{Bench, REDIRECT_URI, token_request};

pub async fn oauth(bench: &Bench<'_>, connector: &Host, report: &mut Report) -> anyhow::Result<()> {
    println!("\n[2/5] OAuth token endpoint (client_secret_basic, Postgres)");
    let token_url = format!("{}/oauth/chatgpt/token", connector.address);
    let basic = bench.basic_auth();
    let user_id = shared::UserId::random();
    bench
        .store
        .upsert_profile(&Profile {
            user_id,
            email: Some("oauth@bench.local".into()),
            tier: "pro".into(),
            channels: json!({ "chatgpt": true }),
        })
        .await?;

    // Warm-up: a few of each.
    let mut warm_refresh = Vec::new();
    for _ in 0..20 {
        let code = bench.new_code(user_id).await?;
        let refresh = token_request(
            &bench.http,
            &token_url,
            &basic,
            &[("grant_type", "authorization_code"), ("code", &code), ("redirect_uri", REDIRECT_URI)],
        )
        .await
        .map_err(|e| anyhow::anyhow!("code exchange: {e}"))?;
        warm_refresh.push(refresh);
    }
    for refresh in &mut warm_refresh {
        *refresh = token_request(
            &bench.http,
            &token_url,
            &basic,
            &[("grant_type", "refresh_token"), ("refresh_token", refresh)],
        )
        .await
        .map_err(|e| anyhow::anyhow!("refresh: {e}"))?;
    }

    for (concurrency, count) in [(1usize, 300usize), (16, 900)] {
        // Codes made up front through the store, so only the token endpoint is timed.
        let mut codes = Vec::with_capacity(count);
        for _ in 0..count {
            codes.push(bench.new_code(user_id).await?);
        }
        let codes = Arc::new(codes);
        let refresh_tokens: Arc<Mutex<Vec<String>>> = Arc::default();
        let exchanges = {
            let (http, url, basic, codes, out) =
                (bench.http.clone(), token_url.clone(), basic.clone(), codes.clone(), refresh_tokens.clone());
            stats::fixed_count(concurrency, count, move |_, i| {
                let (http, url, basic, codes, out) =
                    (http.clone(), url.clone(), basic.clone(), codes.clone(), out.clone());
                async move {
                    let refresh = token_request(
                        &http,
                        &url,
                        &basic,
                        &[("grant_type", "authorization_code"), ("code", &codes[i]), ("redirect_uri", REDIRECT_URI)],
                    )
                    .await?;
                    out.lock().unwrap_or_else(|e| e.into_inner()).push(refresh);
                    Ok(())
                }
            })
            .await
        };
        // Rotations: one chain per worker, each rotation presenting the last one's token.
        let chains: Vec<Mutex<String>> = refresh_tokens
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .take(concurrency)
            .cloned()
            .map(Mutex::new)
            .collect();
        if chains.len() < concurrency {
            bail!("only {} exchanges succeeded: {:?}", chains.len(), exchanges.first_error);
        }
        let chains = Arc::new(chains);
        let rotations = {
            let (http, url, basic, chains) = (bench.http.clone(), token_url.clone(), basic.clone(), chains.clone());
            stats::fixed_count(concurrency, count, move |worker, _| {
                let (http, url, basic, chains) = (http.clone(), url.clone(), basic.clone(), chains.clone());
                async move {
                    let presented = chains[worker].lock().unwrap_or_else(|e| e.into_inner()).clone();
                    let next = token_request(
                        &http,
                        &url,
                        &basic,
                        &[("grant_type", "refresh_token"), ("refresh_token", &presented)],
                    )
                    .await?;
                    *chains[worker].lock().unwrap_or_else(|e| e.into_inner()) = next;
                    Ok(())
                }
            })
            .await
        };
        for (kind, mut samples) in [("authorization_code exchange", exchanges), ("refresh_token rotation", rotations)] {
            samples.sort();
            println!(
                "  c={concurrency:<2} {kind:<28} {:>6.0} /s  p50 {:>6.2} ms  p99 {:>6.2} ms  ({} ok, {} errors)",
                samples.rps(),
                samples.p50(),
                samples.p99(),
                samples.count(),
                samples.errors
            );
            report.oauth.push(OAuthCell { kind, concurrency, samples });
        }
    }
    Ok(())
}
