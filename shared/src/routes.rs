//! Every Lambda function of the connector and the routes each serves: the one list
//! `template.yaml`, `functions/`, the `cargo lambda watch` router and `connector serve`
//! come from (see [`crate::deploy`] for the generated files).
//!
//! A function is one declared action ([`crate::actions::ACTIONS`], one function each,
//! named after it), a group of other routes with the fragment that serves them, or a
//! scheduled job ([`SCHEDULED`]: no routes; an EventBridge schedule invokes it).
//! Each function crate's `main.rs` is the same line: [`function`] finds the function
//! named like its package at compile time, so a crate without a function does not build
//! and a binary links only its own handlers.

use std::borrow::Cow;

use axum::Router;
use axum::http::Method;

use crate::actions::{ACTIONS, Action};
use crate::state::AppState;
use crate::{dexter, discovery, health, mcp_server, oauth, operator};

/// A route group's router, given the state built once per cold start.
pub type Fragment = fn(AppState) -> Router;

/// One Lambda function: its name is its crate in `functions/`, its binary and its SAM
/// `Binary`.
#[derive(Clone, Copy)]
pub enum Function {
    /// A declared action: one route, `/connector/chatgpt/<name>`.
    Action(&'static Action),
    /// Other routes (method, path in API Gateway's `{param}` syntax, which axum shares)
    /// and the fragment serving them.
    Routes { name: &'static str, routes: &'static [(Method, &'static str)], fragment: Fragment },
    /// A job with no routes, invoked on an EventBridge schedule (`rate(...)` or
    /// `cron(...)`); each invocation runs `job` once (see [`crate::lambda`]).
    Scheduled { name: &'static str, schedule: &'static str, job: Job },
}

/// A scheduled function's work, given the state built once per cold start: what it did,
/// as JSON (the invocation's response and log line).
pub type Job = fn(AppState) -> futures_util::future::BoxFuture<'static, anyhow::Result<serde_json::Value>>;

/// The scheduled functions.
pub const SCHEDULED: &[Function] =
    &[Function::Scheduled { name: "sweep", schedule: "rate(1 hour)", job: crate::sweep::scheduled }];

/// The functions that are not actions.
pub const ROUTE_GROUPS: &[Function] = &[
    Function::Routes { name: "healthz", routes: &[(Method::GET, "/healthz")], fragment: health::router },
    Function::Routes {
        name: "discovery",
        routes: &[
            (Method::GET, "/.well-known/jwks.json"),
            (Method::GET, "/.well-known/oauth-authorization-server"),
            (Method::GET, "/connector/chatgpt/openapi.json"),
        ],
        fragment: discovery::router,
    },
    Function::Routes {
        name: "oauth-authorize",
        routes: &[(Method::GET, "/oauth/chatgpt/authorize")],
        fragment: oauth::authorize::router,
    },
    Function::Routes {
        name: "oauth-login",
        routes: &[(Method::GET, "/oauth/chatgpt/login"), (Method::POST, "/oauth/chatgpt/login")],
        fragment: oauth::login::router,
    },
    Function::Routes {
        name: "oauth-callback",
        routes: &[(Method::GET, "/oauth/chatgpt/callback"), (Method::POST, "/oauth/chatgpt/callback")],
        fragment: oauth::callback::router,
    },
    Function::Routes {
        name: "oauth-consent",
        routes: &[(Method::GET, "/oauth/chatgpt/consent"), (Method::POST, "/oauth/chatgpt/consent")],
        fragment: oauth::consent::router,
    },
    Function::Routes {
        name: "oauth-token",
        routes: &[(Method::POST, "/oauth/chatgpt/token")],
        fragment: oauth::token::router,
    },
    Function::Routes {
        name: "oauth-revoke",
        routes: &[(Method::POST, "/oauth/chatgpt/revoke")],
        fragment: oauth::revoke::router,
    },
    Function::Routes {
        name: "oauth-register",
        routes: &[(Method::POST, "/oauth/register")],
        fragment: oauth::register::router,
    },
    Function::Routes {
        name: "operator",
        routes: &[
            (Method::POST, "/oauth/clients"),
            (Method::GET, "/oauth/clients"),
            (Method::GET, "/oauth/clients/{id}"),
            (Method::DELETE, "/oauth/clients/{id}"),
            (Method::POST, "/oauth/clients/{id}/rotate-secret"),
        ],
        fragment: operator::router,
    },
    Function::Routes {
        name: "dexter-api",
        routes: &[
            (Method::GET, "/dexter/linked-accounts"),
            (Method::DELETE, "/dexter/linked-accounts/{grant_id}"),
            (Method::GET, "/dexter/approvals"),
            (Method::POST, "/dexter/approvals/{id}/approve"),
            (Method::POST, "/dexter/approvals/{id}/reject"),
            (Method::GET, "/dexter/receipts"),
            (Method::GET, "/dexter/notifications"),
            (Method::GET, "/dexter/voice-handoffs/{id}"),
        ],
        fragment: dexter::router,
    },
    Function::Routes {
        name: "mcp",
        routes: &[
            (Method::POST, "/mcp"),
            (Method::GET, "/mcp"),
            (Method::DELETE, "/mcp"),
            (Method::GET, "/.well-known/oauth-protected-resource"),
            (Method::GET, "/.well-known/oauth-protected-resource/mcp"),
        ],
        fragment: mcp_server::router,
    },
];

/// Every function: the route groups, then one per action, then the scheduled ones.
pub fn functions() -> impl Iterator<Item = Function> {
    ROUTE_GROUPS
        .iter()
        .copied()
        .chain(ACTIONS.iter().map(|action| Function::Action(action)))
        .chain(SCHEDULED.iter().copied())
}

impl Function {
    pub fn name(&self) -> Cow<'static, str> {
        match self {
            Function::Action(action) => Cow::Owned(action.function_name()),
            Function::Routes { name, .. } | Function::Scheduled { name, .. } => Cow::Borrowed(name),
        }
    }

    /// What API Gateway sends this function: (method, path).
    pub fn routes(&self) -> Vec<(Method, String)> {
        match self {
            Function::Action(action) => vec![(action.method.clone(), action.path())],
            Function::Routes { routes, .. } => routes.iter().map(|(m, p)| (m.clone(), (*p).to_owned())).collect(),
            Function::Scheduled { .. } => Vec::new(),
        }
    }

    /// The EventBridge schedule expression of a scheduled function.
    pub fn schedule(&self) -> Option<&'static str> {
        match self {
            Function::Scheduled { schedule, .. } => Some(schedule),
            _ => None,
        }
    }

    /// The function's routes with their state applied.
    pub fn router(&self, state: AppState) -> Router {
        match self {
            Function::Action(action) => action.router(state),
            Function::Routes { fragment, .. } => fragment(state),
            Function::Scheduled { .. } => Router::new(),
        }
    }
}

/// Every route this build serves, for `connector serve` and the tests.
pub fn all_routes(state: AppState) -> Router {
    functions().fold(Router::new(), |routes, function| routes.merge(function.router(state.clone())))
}

/// The function called `name`, found at compile time by a function crate's `main.rs`
/// (`const { function(env!("CARGO_PKG_NAME")) }`): a name nothing declares fails the
/// build, naming the crate.
pub const fn function(name: &str) -> Function {
    let mut i = 0;
    while i < ROUTE_GROUPS.len() {
        if let Function::Routes { name: group, .. } = ROUTE_GROUPS[i]
            && same(group.as_bytes(), name.as_bytes(), false)
        {
            return ROUTE_GROUPS[i];
        }
        i += 1;
    }
    let mut i = 0;
    while i < SCHEDULED.len() {
        if let Function::Scheduled { name: scheduled, .. } = SCHEDULED[i]
            && same(scheduled.as_bytes(), name.as_bytes(), false)
        {
            return SCHEDULED[i];
        }
        i += 1;
    }
    let mut i = 0;
    while i < ACTIONS.len() {
        if same(ACTIONS[i].name.as_bytes(), name.as_bytes(), true) {
            return Function::Action(ACTIONS[i]);
        }
        i += 1;
    }
    panic!(
        "no function of shared::routes has this crate's name; declare it (an action, a route group or a scheduled job)"
    )
}

/// Byte equality; with `kebab`, `_` in `declared` matches `-` in `wanted`.
const fn same(declared: &[u8], wanted: &[u8], kebab: bool) -> bool {
    if declared.len() != wanted.len() {
        return false;
    }
    let mut i = 0;
    while i < declared.len() {
        let d = if kebab && declared[i] == b'_' { b'-' } else { declared[i] };
        if d != wanted[i] {
            return false;
        }
        i += 1;
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_function_is_found_by_its_name_and_names_are_unique() {
        let names: Vec<String> = functions().map(|f| f.name().into_owned()).collect();
        for name in &names {
            assert_eq!(function(name).name(), name.as_str());
        }
        let mut unique = names.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), names.len(), "two functions share a name: {names:?}");
    }

    #[test]
    fn no_route_is_served_by_two_functions() {
        let mut routes: Vec<(String, String)> =
            functions().flat_map(|f| f.routes()).map(|(m, p)| (m.to_string(), p)).collect();
        let all = routes.len();
        routes.sort();
        routes.dedup();
        assert_eq!(routes.len(), all);
    }
}
