//! Attacks on `/dexter/*` and on entitlements: forged Supabase session tokens, self-granted tiers and channels.
