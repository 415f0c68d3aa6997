//! Redirect URIs: which ones a self-registered or metadata-document client may declare,
//! and when a requested one matches a registered one.
//!
//! Matching is exact (RFC 9700 §4.1.3), with one exception: a loopback redirect
//! (`http://127.0.0.1`, `http://[::1]` or `http://localhost`) matches whatever its port,
//! because a native app (Claude Code, an IDE) listens on whichever port is free when it
//! asks (RFC 8252 §7.3). Scheme, host, path and query must still be identical.
//!
//! What may be declared: `https` URLs with a host (ChatGPT's
//! `https://chatgpt.com/connector_platform_oauth_redirect` and
//! `https://chatgpt.com/connector/oauth/{id}`, Claude's
//! `https://claude.ai/api/mcp/auth_callback` and `https://claude.com/api/mcp/auth_callback`
//! among them), plain `http` only to a loopback host, and private-use schemes of native
//! apps (RFC 8252 §7.1, e.g. `cursor://…`), never a fragment, user information, or a
//! scheme a browser would run or read locally (`javascript:`, `data:`, `file:` …).

use reqwest::Url;

/// The most redirect URIs one client may declare.
pub const MAX_REDIRECT_URIS: usize = 10;
/// The longest redirect URI accepted.
pub const MAX_REDIRECT_URI_LEN: usize = 2000;

/// Schemes a redirect must never use: they run code, read local data or go nowhere.
const FORBIDDEN_SCHEMES: &[&str] =
    &["javascript", "data", "file", "vbscript", "blob", "about", "ftp", "ws", "wss", "chrome", "filesystem"];

/// Why `uri` may not be declared as a redirect URI, if it may not.
pub fn check_declared(uri: &str) -> Result<(), String> {
    if uri.len() > MAX_REDIRECT_URI_LEN {
        return Err(format!("a redirect URI is longer than {MAX_REDIRECT_URI_LEN} characters"));
    }
    let url = Url::parse(uri).map_err(|_| format!("{uri:?} is not an absolute URI"))?;
    if url.fragment().is_some() {
        return Err(format!("{uri:?} contains a fragment"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(format!("{uri:?} contains user information"));
    }
    match url.scheme() {
        "https" if url.host_str().is_some_and(|h| !h.is_empty()) => Ok(()),
        "https" => Err(format!("{uri:?} has no host")),
        "http" if is_loopback(&url) => Ok(()),
        "http" => Err(format!("{uri:?} uses http; only loopback redirects (127.0.0.1, [::1], localhost) may")),
        scheme if FORBIDDEN_SCHEMES.contains(&scheme) => Err(format!("the {scheme} scheme is not allowed")),
        _ => Ok(()),
    }
}

/// Whether `requested` matches one of `registered`.
pub fn matches(registered: &[String], requested: &str) -> bool {
    registered.iter().any(|r| r == requested) || loopback_match(registered, requested)
}

/// RFC 8252 §7.3: a loopback redirect matches a registered one that differs only in port.
fn loopback_match(registered: &[String], requested: &str) -> bool {
    let Ok(asked) = Url::parse(requested) else {
        return false;
    };
    if !is_loopback(&asked) || !asked.username().is_empty() || asked.password().is_some() || asked.fragment().is_some()
    {
        return false;
    }
    registered.iter().filter_map(|r| Url::parse(r).ok()).filter(is_loopback).any(|known| {
        known.scheme() == asked.scheme()
            && known.host_str() == asked.host_str()
            && known.path() == asked.path()
            && known.query() == asked.query()
            && known.username().is_empty()
            && known.fragment().is_none()
    })
}

/// `http` to 127.0.0.1, [::1] or localhost.
fn is_loopback(url: &Url) -> bool {
    url.scheme() == "http" && matches!(url.host_str(), Some("127.0.0.1" | "[::1]" | "localhost"))
}

/// The host a redirect URI returns to, for the consent page (the scheme for a
/// private-use scheme without one).
pub fn host_of(uri: &str) -> String {
    match Url::parse(uri) {
        Ok(url) => match url.host_str() {
            Some(host) if !host.is_empty() => host.to_owned(),
            _ => format!("{}:", url.scheme()),
        },
        Err(_) => uri.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn the_clients_redirects_may_be_declared() {
        for uri in [
            "https://chatgpt.com/connector_platform_oauth_redirect",
            "https://chatgpt.com/connector/oauth/abc123",
            "https://claude.ai/api/mcp/auth_callback",
            "https://claude.com/api/mcp/auth_callback",
            "http://127.0.0.1/callback",
            "http://localhost:33418/callback",
            "http://[::1]/cb",
            "cursor://anysphere.cursor-retrieval/oauth/user-dexter/callback",
        ] {
            assert_eq!(check_declared(uri), Ok(()), "{uri}");
        }
    }

    #[test]
    fn dangerous_or_vague_redirects_are_refused() {
        for uri in [
            "http://chatgpt.com/connector_platform_oauth_redirect",
            "http://10.0.0.1/callback",
            "https://claude.ai/api/mcp/auth_callback#frag",
            "https://user@claude.ai/api/mcp/auth_callback",
            "javascript:alert(1)",
            "data:text/html,hi",
            "file:///etc/passwd",
            "/relative/callback",
            "not a uri",
        ] {
            assert!(check_declared(uri).is_err(), "{uri}");
        }
    }

    #[test]
    fn loopback_redirects_match_on_any_port_and_nothing_else_does() {
        let registered = list(&[
            "http://127.0.0.1/callback",
            "http://localhost:8080/callback",
            "https://claude.ai/api/mcp/auth_callback",
        ]);
        assert!(matches(&registered, "http://127.0.0.1/callback"));
        assert!(matches(&registered, "http://127.0.0.1:54321/callback"));
        assert!(matches(&registered, "http://localhost:1/callback"));
        assert!(matches(&registered, "http://localhost/callback"));
        assert!(matches(&registered, "https://claude.ai/api/mcp/auth_callback"));

        assert!(!matches(&registered, "http://127.0.0.1:54321/callback/other"));
        assert!(!matches(&registered, "http://127.0.0.1:54321/callback?x=1"));
        assert!(!matches(&registered, "http://localhost.evil.com:80/callback"));
        assert!(!matches(&registered, "http://[::1]:5000/callback"));
        assert!(!matches(&registered, "https://127.0.0.1/callback"));
        assert!(!matches(&registered, "https://claude.ai:8443/api/mcp/auth_callback"));
        assert!(!matches(&registered, "https://claude.ai/api/mcp/auth_callback/"));
        assert!(!matches(&registered, "https://claude.com/api/mcp/auth_callback"));
    }
}
