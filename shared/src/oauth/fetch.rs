//! Fetching what a client points us at (its client ID metadata document, its `jwks_uri`)
//! without letting it point us at ourselves: the URL is attacker-chosen, so the fetch is
//! a server-side request forgery waiting to happen unless it is fenced.
//!
//! The fence: `https` only (no user info, no fragment); the host is resolved first and
//! every address it resolves to must be a public unicast address ([`is_public`]: not
//! loopback, private, link-local, shared, documentation, multicast or reserved, IPv6
//! forms of those included); the connection is then pinned to a checked address, so a
//! second DNS answer cannot swap in another; redirects are not followed; the body is
//! capped in size and the whole fetch in time. `connector serve` ([`Fence::Local`]) also
//! accepts `http://127.0.0.1` so the flow can be tried, and tested, on one machine.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use reqwest::Url;

/// The most a fetch may take, resolution included.
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(3);

/// Which addresses a fetch may reach.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fence {
    /// A deployment: `https` to public addresses only.
    Deployment,
    /// `connector serve`: also `http://127.0.0.1`.
    Local,
}

impl Fence {
    /// Local when the deployment's own base URL is plain http, which only `connector
    /// serve` allows ([`crate::config`] refuses it in a Lambda).
    pub fn for_base_url(base: &str) -> Fence {
        if base.starts_with("http://") { Fence::Local } else { Fence::Deployment }
    }
}

/// A fetched body and how long its `Cache-Control: max-age` says it may be kept.
#[derive(Debug)]
pub struct Fetched {
    pub body: Vec<u8>,
    pub max_age: Option<Duration>,
}

/// Checks `url` against the fence (no network): the URL and the host's address when
/// the host is an IP literal. Host names are checked once resolved, in [`fetch`].
pub fn check_url(fence: Fence, url: &Url) -> Result<(), String> {
    if !url.username().is_empty() || url.password().is_some() {
        return Err("the URL must not contain user information".into());
    }
    if url.fragment().is_some() {
        return Err("the URL must not contain a fragment".into());
    }
    let host = url.host_str().ok_or("the URL has no host")?;
    match url.scheme() {
        "https" => Ok(()),
        "http" if fence == Fence::Local && host == "127.0.0.1" => Ok(()),
        "http" => Err("the URL must use https".into()),
        other => Err(format!("the URL scheme {other} is not https")),
    }
}

/// Whether `ip` may be reached under `fence`.
pub fn allowed(fence: Fence, ip: IpAddr) -> bool {
    is_public(ip) || (fence == Fence::Local && ip.is_loopback())
}

/// GETs `url` under `fence`, refusing bodies over `max_bytes`.
pub async fn fetch(fence: Fence, url: &str, max_bytes: usize, accept: &str) -> Result<Fetched, String> {
    let url = Url::parse(url).map_err(|_| "the URL is not valid".to_owned())?;
    check_url(fence, &url)?;
    tokio::time::timeout(FETCH_TIMEOUT, fetch_checked(fence, &url, max_bytes, accept))
        .await
        .map_err(|_| format!("it took longer than {} seconds", FETCH_TIMEOUT.as_secs()))?
}

async fn fetch_checked(fence: Fence, url: &Url, max_bytes: usize, accept: &str) -> Result<Fetched, String> {
    let host = url.host_str().ok_or("the URL has no host")?.to_owned();
    let port = url.port_or_known_default().ok_or("the URL has no port")?;
    let literal = host.trim_start_matches('[').trim_end_matches(']').parse::<IpAddr>().ok();
    let addresses: Vec<SocketAddr> = match literal {
        Some(ip) => vec![SocketAddr::new(ip, port)],
        None => tokio::net::lookup_host((host.as_str(), port))
            .await
            .map_err(|_| "its host name does not resolve".to_owned())?
            .collect(),
    };
    // Every address must pass: which one a client would get is not ours to choose.
    let Some(first) = addresses.first().copied() else {
        return Err("its host name does not resolve".into());
    };
    // The address itself is not told: that would map internal names for whoever asks.
    if addresses.iter().any(|a| !allowed(fence, a.ip())) {
        return Err("its host resolves to an address that is not a public address".into());
    }
    let client = crate::tls::client_builder()
        .resolve(&host, first)
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .timeout(FETCH_TIMEOUT)
        .user_agent(concat!("dexter-chatgpt-connector/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|_| "the HTTP client could not be built".to_owned())?;
    let mut response = client
        .get(url.clone())
        .header(reqwest::header::ACCEPT, accept)
        .send()
        .await
        .map_err(|_| "it could not be fetched".to_owned())?;
    if !response.status().is_success() {
        return Err(format!("it answered HTTP {}", response.status().as_u16()));
    }
    if response.content_length().is_some_and(|length| length > max_bytes as u64) {
        return Err(format!("it is larger than {max_bytes} bytes"));
    }
    let max_age =
        response.headers().get(reqwest::header::CACHE_CONTROL).and_then(|v| v.to_str().ok()).and_then(max_age);
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|_| "reading it failed".to_owned())? {
        if body.len() + chunk.len() > max_bytes {
            return Err(format!("it is larger than {max_bytes} bytes"));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Fetched { body, max_age })
}

/// `max-age` of a `Cache-Control` value; `no-store`/`no-cache` count as zero.
fn max_age(value: &str) -> Option<Duration> {
    let mut age = None;
    for directive in value.split(',').map(str::trim) {
        let lower = directive.to_ascii_lowercase();
        if lower == "no-store" || lower == "no-cache" {
            return Some(Duration::ZERO);
        }
        if let Some(seconds) = lower.strip_prefix("max-age=") {
            age = seconds.trim_matches('"').parse::<u64>().ok().map(Duration::from_secs);
        }
    }
    age
}

/// A public unicast address: none of the special-purpose ranges of RFC 6890 and its
/// updates that reach this host, its network or nowhere in particular.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(a == 0                                     // "this network"
        || a == 10                               // private
        || a == 127                              // loopback
        || (a == 100 && (64..128).contains(&b))  // shared address space (CGNAT)
        || (a == 169 && b == 254)                // link-local (cloud metadata lives here)
        || (a == 172 && (16..32).contains(&b))   // private
        || (a == 192 && b == 0 && c == 0)        // IETF protocol assignments
        || (a == 192 && b == 0 && c == 2)        // documentation
        || (a == 192 && b == 88 && c == 99)      // 6to4 relay anycast
        || (a == 192 && b == 168)                // private
        || (a == 198 && (18..20).contains(&b))   // benchmarking
        || (a == 198 && b == 51 && c == 100)     // documentation
        || (a == 203 && b == 0 && c == 113)      // documentation
        || a >= 224) // multicast, reserved, broadcast
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return is_public_v4(v4);
    }
    let segments = ip.segments();
    !(ip.is_unspecified()
        || ip.is_loopback()
        || (segments[0] & 0xfe00) == 0xfc00                          // unique local fc00::/7
        || (segments[0] & 0xffc0) == 0xfe80                          // link-local fe80::/10
        || (segments[0] & 0xffc0) == 0xfec0                          // site-local (deprecated)
        || (segments[0] & 0xff00) == 0xff00                          // multicast
        || (segments[0] == 0x64 && segments[1] == 0xff9b)            // NAT64 (embeds IPv4)
        || (segments[0] == 0x100 && segments[1..4] == [0, 0, 0])     // discard-only
        || (segments[0] == 0x2001 && segments[1] < 0x200)            // Teredo, benchmarking, ORCHID…
        || (segments[0] == 0x2001 && segments[1] == 0xdb8)           // documentation
        || segments[0] == 0x2002                                     // 6to4 (embeds IPv4)
        || segments[..6] == [0, 0, 0, 0, 0, 0]) // IPv4-compatible (deprecated)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("an address")
    }

    #[test]
    fn private_loopback_link_local_and_reserved_addresses_are_refused() {
        for text in [
            "10.0.0.1",
            "10.255.255.255",
            "127.0.0.1",
            "127.1.2.3",
            "169.254.169.254",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "100.64.0.1",
            "0.0.0.0",
            "192.0.0.8",
            "198.18.0.1",
            "224.0.0.1",
            "255.255.255.255",
            "::1",
            "::",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "ff02::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "::ffff:169.254.169.254",
            "64:ff9b::a9fe:a9fe",
            "2002:7f00:1::",
            "2001:db8::1",
            "2001::1",
            "::127.0.0.1",
        ] {
            assert!(!is_public(ip(text)), "{text} must be refused");
            assert!(!allowed(Fence::Deployment, ip(text)), "{text} must be refused in a deployment");
        }
    }

    #[test]
    fn public_addresses_are_allowed() {
        for text in
            ["1.1.1.1", "8.8.8.8", "104.18.0.1", "172.32.0.1", "100.128.0.1", "2606:4700::1111", "::ffff:1.1.1.1"]
        {
            assert!(is_public(ip(text)), "{text} is public");
        }
    }

    #[test]
    fn only_connector_serve_reaches_loopback_and_only_over_http_to_127_0_0_1() {
        assert!(allowed(Fence::Local, ip("127.0.0.1")));
        assert!(allowed(Fence::Local, ip("::1")));
        assert!(!allowed(Fence::Local, ip("10.0.0.1")));
        assert!(!allowed(Fence::Local, ip("169.254.169.254")));
        let url = |text: &str| Url::parse(text).expect("url");
        assert!(check_url(Fence::Local, &url("http://127.0.0.1:8080/client.json")).is_ok());
        assert!(check_url(Fence::Deployment, &url("http://127.0.0.1:8080/client.json")).is_err());
        assert!(check_url(Fence::Local, &url("http://localhost:8080/client.json")).is_err());
        assert!(check_url(Fence::Deployment, &url("http://example.com/client.json")).is_err());
        assert!(check_url(Fence::Deployment, &url("https://user:pw@example.com/client.json")).is_err());
        assert!(check_url(Fence::Deployment, &url("https://example.com/client.json#x")).is_err());
        assert!(check_url(Fence::Deployment, &url("ftp://example.com/client.json")).is_err());
        assert!(check_url(Fence::Deployment, &url("https://example.com/client.json")).is_ok());
    }

    #[tokio::test]
    async fn a_deployment_refuses_names_and_literals_that_reach_this_host() {
        for url in [
            "https://127.0.0.1/client.json",
            "https://[::1]/client.json",
            "https://localhost/client.json",
            "https://169.254.169.254/latest/meta-data",
            "https://10.1.2.3/client.json",
        ] {
            let error = fetch(Fence::Deployment, url, 5 * 1024, "application/json").await.expect_err(url);
            assert!(error.contains("not a public address"), "{url}: {error}");
        }
    }

    #[test]
    fn cache_control_max_age_is_read() {
        assert_eq!(max_age("public, max-age=600"), Some(Duration::from_secs(600)));
        assert_eq!(max_age("no-store"), Some(Duration::ZERO));
        assert_eq!(max_age("public"), None);
    }
}
