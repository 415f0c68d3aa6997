//! The pages a person sees while linking their Dexter account: plain server-rendered
//! HTML, small, accessible, styled inline, with no third-party script except Cloudflare
//! Turnstile on the login page. Every page is `no-store` and refuses to be framed
//! (clickjacking on a consent page is an account takeover). On a phone the card keeps a
//! gutter and starts near the top, so the page's button is in view without scrolling
//! (`tests/browser.rs` checks that at phone and desktop widths).

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};

const STYLE: &str = "\
:root{color-scheme:light dark;--fg:#14161a;--muted:#5b6270;--bg:#f6f7f9;--card:#fff;--line:#dde1e7;--accent:#3056d3;--danger:#b42318}\
@media (prefers-color-scheme:dark){:root{--fg:#eceef2;--muted:#a3aab8;--bg:#0f1115;--card:#181b21;--line:#2c313b;--accent:#7b9bff;--danger:#ff8a7a}}\
*{box-sizing:border-box}body{margin:0;font:16px/1.5 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;color:var(--fg);background:var(--bg)}\
body{padding:0 1rem}\
main{max-width:28rem;margin:8vh auto;padding:2rem;background:var(--card);border:1px solid var(--line);border-radius:12px}\
@media (max-width:30rem){main{margin:1rem auto;padding:1.25rem}}\
h1{font-size:1.35rem;margin:0 0 1rem}p{margin:.5rem 0}.muted{color:var(--muted);font-size:.9rem}\
label{display:block;font-weight:600;margin:1rem 0 .25rem}\
input[type=email],input[type=text]{width:100%;padding:.6rem .7rem;font:inherit;color:inherit;background:transparent;border:1px solid var(--line);border-radius:8px}\
input:focus,button:focus{outline:3px solid var(--accent);outline-offset:2px}\
button{font:inherit;font-weight:600;padding:.6rem 1.1rem;border-radius:8px;border:1px solid var(--accent);background:var(--accent);color:#fff;cursor:pointer}\
button.secondary{background:transparent;color:var(--fg);border-color:var(--line)}\
.actions{display:flex;gap:.75rem;margin-top:1.5rem;flex-wrap:wrap}\
ul.scopes{padding-left:1.2rem}ul.scopes li{margin:.4rem 0}code{font-size:.9em}\
.error{color:var(--danger)}.brand{font-weight:700;letter-spacing:.02em;color:var(--accent);margin-bottom:.5rem}";

/// Escapes text for HTML element content and double-quoted attributes.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#x27;"),
            c => out.push(c),
        }
    }
    out
}

/// A whole page. `body` is trusted HTML built by this module's callers with [`escape`]d
/// values; `with_turnstile` adds Cloudflare's widget script (the login page only). The
/// empty `data:` icon keeps browsers from fetching `/favicon.ico`, a 404 (and a console
/// error) on every page.
pub fn page(status: StatusCode, title: &str, body: &str, with_turnstile: bool) -> Response {
    let script = if with_turnstile {
        r#"<script src="https://challenges.cloudflare.com/turnstile/v0/api.js" async defer></script>"#
    } else {
        ""
    };
    let html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <meta name=\"referrer\" content=\"no-referrer\">\
         <link rel=\"icon\" href=\"data:,\">\
         <title>{title} · Dexter</title><style>{STYLE}</style>{script}</head>\
         <body><main><div class=\"brand\">Dexter</div>{body}</main></body></html>",
        title = escape(title),
    );
    let csp = if with_turnstile {
        "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; \
         script-src https://challenges.cloudflare.com; frame-src https://challenges.cloudflare.com; \
         connect-src https://challenges.cloudflare.com; frame-ancestors 'none'; base-uri 'none'"
    } else {
        "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'"
    };
    let mut response = (status, Html(html)).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    if let Ok(value) = HeaderValue::from_str(csp) {
        headers.insert(header::CONTENT_SECURITY_POLICY, value);
    }
    response
}

/// An error page: used where redirecting back to the client would be unsafe (unknown
/// client, unregistered redirect URI) or where the flow cannot continue in this browser.
pub fn error_page(status: StatusCode, title: &str, explanation: &str) -> Response {
    page(
        status,
        title,
        &format!(
            "<h1>{}</h1><p>{}</p><p class=\"muted\">You can close this window and try connecting again from ChatGPT.</p>",
            escape(title),
            escape(explanation)
        ),
        false,
    )
}

/// The hidden fields every form in the flow carries.
pub fn flow_fields(request_id: &str, csrf: &str) -> String {
    format!(
        "<input type=\"hidden\" name=\"request\" value=\"{}\"><input type=\"hidden\" name=\"csrf\" value=\"{}\">",
        escape(request_id),
        escape(csrf)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_neutralises_markup_and_attribute_breakouts() {
        assert_eq!(escape(r#"<a href="x">'&'</a>"#), "&lt;a href=&quot;x&quot;&gt;&#x27;&amp;&#x27;&lt;/a&gt;");
    }
}
