//! JSON logs through `tracing`: one object per line, with the request span's
//! `request_id` on every line logged inside a request. Level from `RUST_LOG`, else
//! `LOG_LEVEL`, else `info`.

use tracing_subscriber::EnvFilter;

/// Installs the JSON subscriber. Calling it again is harmless.
pub fn init() {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(std::env::var("LOG_LEVEL").unwrap_or_else(|_| "info".into())))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .json()
        .flatten_event(true)
        .with_current_span(true)
        .with_span_list(false)
        .with_target(false)
        .with_env_filter(filter)
        .with_writer(std::io::stdout)
        .try_init();
}
