//! Extractors that turn axum's rejections into [`ApiError`]s, so a malformed body gets
//! the same JSON error shape as everything else, and [`ClientIp`], the caller's address.

use std::convert::Infallible;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};

use axum::extract::rejection::JsonRejection;
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};
use serde::de::DeserializeOwned;

use crate::error::ApiError;
use crate::http::MAX_BODY_BYTES;

/// `axum::Json`, with its rejections mapped to 400 / 413 / 415 JSON errors.
pub struct Json<T>(pub T);

impl<S, T> FromRequest<S> for Json<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(value)) => Ok(Json(value)),
            Err(rejection) => Err(json_rejection(rejection)),
        }
    }
}

fn json_rejection(rejection: JsonRejection) -> ApiError {
    match rejection {
        JsonRejection::MissingJsonContentType(_) => ApiError::UnsupportedMediaType { expected: "application/json" },
        JsonRejection::JsonSyntaxError(e) => ApiError::InvalidJson(e.body_text()),
        JsonRejection::JsonDataError(e) => ApiError::BadRequest(e.body_text()),
        JsonRejection::BytesRejection(_) => ApiError::PayloadTooLarge { limit: MAX_BODY_BYTES },
        other => ApiError::BadRequest(other.body_text()),
    }
}

/// `axum::extract::Query`, with its rejection mapped to a 400 JSON error. A handler that
/// must authenticate before it judges the query takes `Result<Query<T>, ApiError>` and
/// applies `?` after its check, so a bad token is a 401 whatever the query.
pub struct Query<T>(pub T);

impl<S, T> FromRequestParts<S> for Query<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(value)) => Ok(Query(value)),
            Err(rejection) => Err(ApiError::BadRequest(rejection.body_text())),
        }
    }
}

/// The credential of an `Authorization: Bearer <token>` header (RFC 6750 §2.1: the
/// scheme is case-insensitive), or `None` when there is no such header or it is empty.
/// The one parser for ChatGPT's access tokens, Dexter's session tokens and the admin
/// token.
pub fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// The address the request came from, as the host saw it, never as the caller claims it:
/// behind API Gateway, `requestContext.http.sourceIp` (HTTP API, payload 2.0) or
/// `requestContext.identity.sourceIp` (REST API), which API Gateway sets from the TCP
/// connection it accepted; under `connector serve`, the socket's peer address
/// (`ConnectInfo`). `X-Forwarded-For` is never read: anyone can send one.
///
/// A host that provides neither (a router driven in-process without connect info) gives
/// `ClientIp(None)`: such callers share one budget rather than escaping it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientIp(pub Option<IpAddr>);

impl ClientIp {
    /// The value rate limits count under: an IPv4 address as is, an IPv6 address by its
    /// /64 prefix (one subscriber's allocation, so a caller cannot rotate through it),
    /// `unknown` when the host gave no address.
    pub fn limit_key(&self) -> String {
        match self.0.map(|ip| ip.to_canonical()) {
            Some(IpAddr::V4(v4)) => v4.to_string(),
            Some(IpAddr::V6(v6)) => {
                let s = v6.segments();
                format!("{}/64", Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
            None => "unknown".to_owned(),
        }
    }

    /// The address as text (for Turnstile's `remoteip`), when known.
    pub fn address(&self) -> Option<String> {
        self.0.map(|ip| ip.to_canonical().to_string())
    }
}

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(client_ip(&parts.extensions))
    }
}

/// [`ClientIp`] from a request's extensions (for middleware that holds the whole request).
pub fn client_ip(extensions: &axum::http::Extensions) -> ClientIp {
    use lambda_http::request::RequestContext;
    let from_gateway = match extensions.get::<RequestContext>() {
        Some(RequestContext::ApiGatewayV2(ctx)) => ctx.http.source_ip.as_deref(),
        Some(RequestContext::ApiGatewayV1(ctx)) => ctx.identity.source_ip.as_deref(),
        _ => None,
    };
    if let Some(ip) = from_gateway.and_then(|ip| ip.trim().parse::<IpAddr>().ok()) {
        return ClientIp(Some(ip));
    }
    ClientIp(extensions.get::<ConnectInfo<SocketAddr>>().map(|ConnectInfo(peer)| peer.ip()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_addresses_are_limited_per_ipv4_address_and_ipv6_slash_64() {
        let key = |ip: &str| ClientIp(Some(ip.parse().unwrap())).limit_key();
        assert_eq!(key("203.0.113.7"), "203.0.113.7");
        assert_eq!(key("::ffff:203.0.113.7"), "203.0.113.7");
        assert_eq!(key("2001:db8:1:2:aaaa::1"), "2001:db8:1:2::/64");
        assert_eq!(key("2001:db8:1:2:bbbb::9"), key("2001:db8:1:2:aaaa::1"));
        assert_ne!(key("2001:db8:1:3::1"), key("2001:db8:1:2::1"));
        assert_eq!(ClientIp(None).limit_key(), "unknown");
    }

    #[test]
    fn the_gateway_source_ip_wins_and_forwarded_headers_are_never_read() {
        let mut extensions = axum::http::Extensions::new();
        assert_eq!(client_ip(&extensions), ClientIp(None));
        extensions.insert(ConnectInfo(SocketAddr::from(([127, 0, 0, 1], 4000))));
        assert_eq!(client_ip(&extensions).address().as_deref(), Some("127.0.0.1"));
        let event: lambda_http::aws_lambda_events::apigw::ApiGatewayV2httpRequestContext =
            serde_json::from_value(serde_json::json!({
                "requestId": "r", "http": { "method": "POST", "sourceIp": "198.51.100.23" }
            }))
            .unwrap();
        extensions.insert(lambda_http::request::RequestContext::ApiGatewayV2(event));
        assert_eq!(client_ip(&extensions).address().as_deref(), Some("198.51.100.23"));
    }

    #[test]
    fn bearer_tokens_are_read_whatever_the_schemes_case() {
        let with = |value: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(header::AUTHORIZATION, value.parse().unwrap());
            headers
        };
        assert_eq!(bearer_token(&with("Bearer abc")), Some("abc"));
        assert_eq!(bearer_token(&with("bearer  abc ")), Some("abc"));
        assert_eq!(bearer_token(&with("BEARER abc")), Some("abc"));
        assert_eq!(bearer_token(&with("Basic abc")), None);
        assert_eq!(bearer_token(&with("Bearer ")), None);
        assert_eq!(bearer_token(&HeaderMap::new()), None);
    }
}
