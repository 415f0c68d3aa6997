//! The OAuth scopes: one list, used by the authorization server (what a client may ask
//! for, what the consent page explains), the operator API (a client's allowed scopes),
//! the action declarations (what each action needs) and the spec.

use std::fmt;

/// A scope a client may ask for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scope {
    /// Call Dexter's tools (look-ups, research, previews, alerts, swap requests).
    McpInvoke,
    /// Read the managed wallets and their balances.
    WalletRead,
    /// Read the account id and plan.
    Profile,
}

impl Scope {
    /// Every scope, in the order the consent page and the metadata list them; also the
    /// default grant of a new client.
    pub const ALL: [Scope; 3] = [Scope::McpInvoke, Scope::WalletRead, Scope::Profile];

    /// The scope's name on the wire (`scope` parameters, tokens, the spec).
    pub const fn as_str(self) -> &'static str {
        match self {
            Scope::McpInvoke => "mcp:invoke",
            Scope::WalletRead => "wallet:read",
            Scope::Profile => "profile",
        }
    }

    /// What the scope lets a client do, as the consent page and the spec explain it.
    pub const fn description(self) -> &'static str {
        match self {
            Scope::McpInvoke => {
                "Use Dexter's tools for you: look up tokens, research, preview swaps, manage alerts, \
                 and request swaps, which still wait for your approval in Dexter."
            }
            Scope::WalletRead => "See your managed wallets and their balances.",
            Scope::Profile => "See your Dexter account id and plan.",
        }
    }

    /// The scope named `text`, if there is one.
    pub fn parse(text: &str) -> Option<Scope> {
        Scope::ALL.into_iter().find(|s| s.as_str() == text)
    }

    /// Every scope's name, space-separated (the `scope` a client asks for everything with).
    pub fn all_names() -> Vec<&'static str> {
        Scope::ALL.iter().map(|s| s.as_str()).collect()
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Parses a space-separated scope string, deduplicated, in the order given; `None` if a
/// scope is unknown.
pub fn parse_scopes(text: &str) -> Option<Vec<String>> {
    let mut scopes: Vec<String> = Vec::new();
    for name in text.split(' ').filter(|s| !s.is_empty()) {
        let scope = Scope::parse(name)?;
        if !scopes.iter().any(|s| s == scope.as_str()) {
            scopes.push(scope.as_str().to_owned());
        }
    }
    Some(scopes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_parse_deduplicated_and_unknown_ones_are_refused() {
        assert_eq!(
            parse_scopes("mcp:invoke  wallet:read mcp:invoke"),
            Some(vec!["mcp:invoke".to_owned(), "wallet:read".to_owned()])
        );
        assert_eq!(parse_scopes("wallet:write"), None);
        assert_eq!(parse_scopes(""), Some(vec![]));
    }

    #[test]
    fn every_scope_round_trips_through_its_name() {
        for scope in Scope::ALL {
            assert_eq!(Scope::parse(scope.as_str()), Some(scope));
        }
        assert_eq!(Scope::all_names(), ["mcp:invoke", "wallet:read", "profile"]);
    }
}
