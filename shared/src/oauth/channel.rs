//! Which profile channel gates a client's links (`profiles.channels.<name>`).
//!
//! ChatGPT's clients (every redirect URI an https address on chatgpt.com or openai.com: the
//! GPTs, ChatGPT's apps and connectors) are gated by `chatgpt`. Any other client (Claude,
//! Claude Code, Cursor, local agents) is gated by `mcp` when it calls `/mcp`. The GPT
//! actions are ChatGPT's alone and always check `chatgpt`.
//!
//! The consent page lets a user link a client when a channel it may be used through is on:
//! `chatgpt` for ChatGPT's clients; `chatgpt` or `mcp` for the others (an operator-created
//! client may serve a GPT or an MCP client). Each call then checks its own channel.

use crate::store::{ActionContext, OAuthClient};

pub const CHATGPT: &str = "chatgpt";
pub const MCP: &str = "mcp";

/// The channel that gates `client`'s calls to `/mcp`.
pub fn of(client: &OAuthClient) -> &'static str {
    of_redirect_uris(&client.redirect_uris)
}

/// The channel of a client whose redirect URIs are `redirect_uris`.
pub fn of_redirect_uris(redirect_uris: &[String]) -> &'static str {
    let chatgpt = !redirect_uris.is_empty() && redirect_uris.iter().all(|uri| on_chatgpt(uri));
    if chatgpt { CHATGPT } else { MCP }
}

/// The channels that let a user link `client` at the consent page.
pub fn linkable_through(client: &OAuthClient) -> &'static [&'static str] {
    match of(client) {
        CHATGPT => &[CHATGPT],
        _ => &[CHATGPT, MCP],
    }
}

/// Whether the action context says the user has `channel` on.
pub fn enabled_in(context: &ActionContext, channel: &str) -> bool {
    match channel {
        CHATGPT => context.chatgpt_enabled,
        MCP => context.mcp_enabled,
        _ => false,
    }
}

fn on_chatgpt(uri: &str) -> bool {
    let url = reqwest::Url::parse(uri).ok();
    let host = url.as_ref().filter(|u| u.scheme() == "https").and_then(|u| u.host_str()).map(str::to_ascii_lowercase);
    host.is_some_and(|host| {
        ["chatgpt.com", "openai.com"].iter().any(|d| host == *d || host.ends_with(&format!(".{d}")))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(redirect_uris: &[&str]) -> OAuthClient {
        OAuthClient {
            id: "c".into(),
            name: "c".into(),
            secret_hash: crate::TokenHash::of("s"),
            previous_secret_hash: None,
            previous_secret_expires_at: None,
            redirect_uris: redirect_uris.iter().map(|u| (*u).to_owned()).collect(),
            scopes: Vec::new(),
            created_at: chrono::Utc::now(),
            public: false,
        }
    }

    #[test]
    fn chatgpts_clients_are_gated_by_chatgpt_and_others_by_mcp() {
        for chatgpt in [
            &["https://chatgpt.com/aip/g-1/oauth/callback", "https://chat.openai.com/aip/g-1/oauth/callback"][..],
            &["https://chatgpt.com/connector_platform_oauth_redirect"],
        ] {
            assert_eq!(of(&client(chatgpt)), CHATGPT);
        }
        for other in [
            &["https://claude.ai/api/mcp/auth_callback"][..],
            &["http://127.0.0.1:33418/callback"],
            &["https://chatgpt.com/cb", "http://127.0.0.1/cb"],
            &["http://chatgpt.com/cb"],
            &["https://chatgpt.com.evil.example/cb"],
            &[],
        ] {
            assert_eq!(of(&client(other)), MCP, "{other:?}");
        }
    }
}
