//! JSON logs through `tracing`: one object per line, with the request span's
//! `request_id` on every line logged inside a request. Level from `RUST_LOG`, else
//! `LOG_LEVEL`, else `info`.
//!
//! An action call's request line also carries its CloudWatch metrics as an Embedded
//! Metric Format document ([`crate::metrics`]). EMF needs a top-level `_aws`
//! *object*, and tracing's JSON formatter writes every field as a string or a number, so
//! [`Emf`] wraps the formatter: a line whose event has an [`EMF_FIELD`] field is formatted
//! as usual, then that field's text is put back as the JSON object it is. Every other
//! line is the formatter's, untouched.

use std::fmt;

use serde_json::{Map, Value};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::filter::Targets;
use tracing_subscriber::fmt::format::{Format, Json, JsonFields, Writer};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;

/// The field whose text is an EMF directive, written as a JSON object.
pub const EMF_FIELD: &str = "_aws";

/// Installs the JSON subscriber. Calling it again is harmless.
///
/// The level is a list of `target=level` directives, e.g. `info` or `shared=debug,warn`
/// (a `Targets` filter: the `EnvFilter` syntax without span and field matches, which
/// would link a regex engine into every function).
pub fn init() {
    let parse = |name: &str| std::env::var(name).ok().and_then(|v| v.parse::<Targets>().ok());
    let filter =
        parse("RUST_LOG").or_else(|| parse("LOG_LEVEL")).unwrap_or_else(|| Targets::new().with_default(Level::INFO));
    let format = tracing_subscriber::fmt::format()
        .json()
        .flatten_event(true)
        .with_current_span(true)
        .with_span_list(false)
        .with_target(false);
    let json = tracing_subscriber::fmt::layer()
        .fmt_fields(JsonFields::new())
        .event_format(Emf(format))
        .with_writer(std::io::stdout);
    let _ = tracing_subscriber::registry().with(json).with(filter).try_init();
}

/// The JSON formatter, with [`EMF_FIELD`] written as an object.
pub struct Emf(Format<Json>);

impl<S, N> FormatEvent<S, N> for Emf
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(&self, ctx: &FmtContext<'_, S, N>, mut writer: Writer<'_>, event: &Event<'_>) -> fmt::Result {
        if event.metadata().fields().field(EMF_FIELD).is_none() {
            return self.0.format_event(ctx, writer, event);
        }
        let mut line = String::new();
        self.0.format_event(ctx, Writer::new(&mut line), event)?;
        match with_emf_object(&line) {
            Some(rewritten) => writeln!(writer, "{rewritten}"),
            None => writer.write_str(&line),
        }
    }
}

/// `line` with its [`EMF_FIELD`] string parsed into the object it holds; `None` when the
/// line has no such string (it is then written as it is).
fn with_emf_object(line: &str) -> Option<String> {
    let mut object: Map<String, Value> = serde_json::from_str(line.trim_end()).ok()?;
    let directive = match object.get(EMF_FIELD)? {
        Value::String(text) => serde_json::from_str::<Value>(text).ok()?,
        _ => return None,
    };
    object.insert(EMF_FIELD.to_owned(), directive);
    serde_json::to_string(&object).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_directive_becomes_an_object_and_the_rest_stays() {
        let line = r#"{"message":"request","calls":1,"_aws":"{\"Timestamp\":5}"}"#;
        let rewritten: Value = serde_json::from_str(&with_emf_object(line).unwrap()).unwrap();
        assert_eq!(rewritten["_aws"]["Timestamp"], 5);
        assert_eq!(rewritten["calls"], 1);
        assert_eq!(rewritten["message"], "request");
        assert_eq!(with_emf_object(r#"{"message":"request"}"#), None);
    }
}
