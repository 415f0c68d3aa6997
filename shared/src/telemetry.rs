//! JSON logs through `tracing`: one object per line, with the request span's
//! `request_id` on every line logged inside a request. Level from `RUST_LOG`, else
//! `LOG_LEVEL`, else `info`.

use tracing::Level;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// Installs the JSON subscriber. Calling it again is harmless.
///
/// The level is a list of `target=level` directives, e.g. `info` or `shared=debug,warn`
/// (a `Targets` filter: the `EnvFilter` syntax without span and field matches, which
/// would link a regex engine into every function).
pub fn init() {
    let parse = |name: &str| std::env::var(name).ok().and_then(|v| v.parse::<Targets>().ok());
    let filter =
        parse("RUST_LOG").or_else(|| parse("LOG_LEVEL")).unwrap_or_else(|| Targets::new().with_default(Level::INFO));
    let json = tracing_subscriber::fmt::layer()
        .json()
        .flatten_event(true)
        .with_current_span(true)
        .with_span_list(false)
        .with_target(false)
        .with_writer(std::io::stdout);
    let _ = tracing_subscriber::registry().with(json).with(filter).try_init();
}
