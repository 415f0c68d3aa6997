//! Attacks on codes and tokens: PKCE, mix-up (RFC 9207), code injection and replay, refresh races.
