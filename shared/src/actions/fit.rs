//! Answers that fit ChatGPT: an action's response body may be at most 100,000 characters
//! ([`MAX_ANSWER_BYTES`]; we count bytes, which are never fewer than characters), and
//! dexter-mcp can return far more (one tool result may be up to 4 MiB).
//!
//! Two layers keep every answer under the limit:
//! - **Per action, by design.** Every list an upstream can make arbitrarily long is paged
//!   ([`Page`], [`paged`]: `offset`/`limit` query parameters, and `total`, `returned`,
//!   `truncated` and `next_offset` in the answer), and every upstream item is cut to a
//!   byte budget ([`item`]: long strings cut, long arrays and wide objects shortened). The
//!   counts and budgets are chosen so that a page's worst case stays under
//!   [`ANSWER_BUDGET`]; each action's module states its arithmetic.
//! - **One safety net** ([`within_limit`]), a response layer on every action's router
//!   ([`super::Action::router`]): an answer still over the limit, whatever the reason, is
//!   cut down generically ([`answer`]) and marked `truncated: true`; an error message is
//!   cut too. No action answer leaves larger than the limit.

use axum::body::Body;
use axum::http::header;
use axum::response::Response;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::error::ErrorBody;

/// ChatGPT's limit on an action's response body, in characters.
pub const MAX_ANSWER_BYTES: usize = 100_000;

/// What a page of an action's answer is designed to stay under, leaving room for the
/// fields around the lists.
pub const ANSWER_BUDGET: usize = 90_000;

/// The longest error message an action answers with (upstream messages can be long).
pub const MAX_MESSAGE_CHARS: usize = 500;

/// How far `offset` may go: further than any real list, small enough to be cheap.
pub const MAX_OFFSET: usize = 10_000;

/// Limits for cutting JSON down: the longest string kept (in characters), the most items
/// kept of an array, the most keys kept of an object, and how deep to descend.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    pub string_chars: usize,
    pub array_items: usize,
    pub object_keys: usize,
    pub depth: usize,
}

/// Ever tighter limits, tried in turn until a value fits its budget. Strings keep at
/// least 64 characters, so addresses (44) and signatures (88, cut) stay recognisable.
const LADDER: [Limits; 5] = [
    Limits { string_chars: 2_000, array_items: 50, object_keys: 64, depth: 8 },
    Limits { string_chars: 500, array_items: 20, object_keys: 32, depth: 6 },
    Limits { string_chars: 200, array_items: 10, object_keys: 24, depth: 4 },
    Limits { string_chars: 100, array_items: 5, object_keys: 16, depth: 3 },
    Limits { string_chars: 64, array_items: 2, object_keys: 8, depth: 2 },
];

/// `value` with strings, arrays and objects cut to `limits`. A cut string ends in `…`;
/// what lies below `depth` becomes `null`.
pub fn shrink(value: &Value, limits: &Limits) -> Value {
    shrink_at(value, limits, 0)
}

fn shrink_at(value: &Value, limits: &Limits, depth: usize) -> Value {
    match value {
        Value::String(text) => Value::String(cut(text, limits.string_chars)),
        Value::Array(items) if depth < limits.depth => {
            Value::Array(items.iter().take(limits.array_items).map(|v| shrink_at(v, limits, depth + 1)).collect())
        }
        Value::Object(fields) if depth < limits.depth => Value::Object(
            fields
                .iter()
                .take(limits.object_keys)
                .map(|(k, v)| (cut(k, limits.string_chars.min(64)), shrink_at(v, limits, depth + 1)))
                .collect(),
        ),
        Value::Array(_) | Value::Object(_) => Value::Null,
        scalar => scalar.clone(),
    }
}

/// `text` cut to at most `max` characters (the last one `…` when cut).
pub fn cut(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut out: String = text.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// The serialized size of `value`, in bytes.
pub fn size(value: &Value) -> usize {
    serde_json::to_vec(value).map_or(usize::MAX, |bytes| bytes.len())
}

/// An upstream item cut to at most `budget` bytes serialized: as it is when it fits,
/// otherwise shrunk by ever tighter [`LADDER`] limits, and as a last resort
/// `{"truncated": true}`.
pub fn item(value: &Value, budget: usize) -> Value {
    if size(value) <= budget {
        return value.clone();
    }
    LADDER
        .iter()
        .map(|limits| shrink(value, limits))
        .find(|shrunk| size(shrunk) <= budget)
        .unwrap_or_else(|| json!({ "truncated": true }))
}

/// The `offset` query parameter: where a page starts, 0 to [`MAX_OFFSET`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(try_from = "u64")]
pub struct Offset(usize);

impl TryFrom<u64> for Offset {
    type Error = String;

    fn try_from(n: u64) -> Result<Self, String> {
        if n <= MAX_OFFSET as u64 { Ok(Offset(n as usize)) } else { Err(format!("must be between 0 and {MAX_OFFSET}")) }
    }
}

impl Offset {
    pub fn get(self) -> usize {
        self.0
    }
}

/// A `limit` query parameter: how many items a page holds, 1 to `MAX`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(try_from = "u64")]
pub struct Limit<const MAX: usize>(usize);

impl<const MAX: usize> TryFrom<u64> for Limit<MAX> {
    type Error = String;

    fn try_from(n: u64) -> Result<Self, String> {
        if (1..=MAX as u64).contains(&n) { Ok(Limit(n as usize)) } else { Err(format!("must be between 1 and {MAX}")) }
    }
}

impl<const MAX: usize> Limit<MAX> {
    pub fn get(self) -> usize {
        self.0
    }
}

/// One page of a list: where it starts and how many items it holds at most.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Page {
    pub offset: usize,
    pub limit: usize,
}

impl Page {
    pub fn new(offset: Option<Offset>, limit: Option<usize>, default_limit: usize) -> Page {
        Page { offset: offset.unwrap_or_default().get(), limit: limit.unwrap_or(default_limit) }
    }

    /// The index range of `total` items this page covers.
    pub fn range(&self, total: usize) -> std::ops::Range<usize> {
        let start = self.offset.min(total);
        start..start.saturating_add(self.limit).min(total)
    }

    /// What the answer says about the page: `total`, `returned`, `offset`, `truncated`
    /// (there is more after this page) and `next_offset` (where the next page starts, or
    /// `null`).
    pub fn info(&self, total: usize, returned: usize) -> Map<String, Value> {
        let end = self.offset.saturating_add(returned);
        let more = end < total;
        let mut info = Map::new();
        info.insert("total".into(), json!(total));
        info.insert("returned".into(), json!(returned));
        info.insert("offset".into(), json!(self.offset));
        info.insert("truncated".into(), json!(more));
        info.insert("next_offset".into(), if more { json!(end) } else { Value::Null });
        info
    }
}

/// The page of `items` (each cut to `item_budget` bytes) and what the answer says about
/// it ([`Page::info`]). Anything that is not an array counts as an empty list.
pub fn paged(items: &Value, page: Page, item_budget: usize) -> (Vec<Value>, Map<String, Value>) {
    let all = items.as_array().map(Vec::as_slice).unwrap_or_default();
    let out: Vec<Value> = all[page.range(all.len())].iter().map(|v| item(v, item_budget)).collect();
    let info = page.info(all.len(), out.len());
    (out, info)
}

/// Adds a page's `info` to an answer object.
pub fn with_page(mut body: Value, info: Map<String, Value>) -> Value {
    if let Some(object) = body.as_object_mut() {
        object.extend(info);
    }
    body
}

/// The schema of the paging fields every paged answer carries.
pub fn page_schema() -> Value {
    json!({
        "total": { "type": "integer", "description": "How many items there are in all." },
        "returned": { "type": "integer", "description": "How many items this answer holds." },
        "offset": { "type": "integer", "description": "Where this page starts." },
        "truncated": { "type": "boolean", "description": "True when more items follow: ask again with offset=next_offset." },
        "next_offset": { "type": ["integer", "null"], "description": "The offset of the next page, or null on the last page." },
    })
}

/// The schema of an `offset` query parameter.
pub fn offset_schema() -> Value {
    json!({ "type": "integer", "minimum": 0, "maximum": MAX_OFFSET })
}

/// An answer over the limit cut down until it fits: every field but `receipt_ids` shrunk
/// by ever tighter limits, with `truncated: true`. What no limit fits (it cannot happen
/// with an object of fields) becomes a short note.
pub fn answer(body: Value) -> Value {
    if size(&body) <= MAX_ANSWER_BYTES {
        return body;
    }
    let Value::Object(mut fields) = body else {
        return item(&body, ANSWER_BUDGET);
    };
    let receipt_ids = fields.remove("receipt_ids");
    let rest = Value::Object(fields);
    let mut fitted = LADDER
        .iter()
        .map(|limits| shrink(&rest, limits))
        .find(|shrunk| size(shrunk) <= ANSWER_BUDGET)
        .unwrap_or_else(|| json!({ "message": "the answer was too large for ChatGPT and was left out" }));
    fitted["truncated"] = json!(true);
    if let Some(ids) = receipt_ids {
        fitted["receipt_ids"] = ids;
    }
    fitted
}

/// The safety net every action's router applies to its responses (see the module doc):
/// a body over [`MAX_ANSWER_BYTES`] is cut down by [`answer`], and an error's message is
/// cut to [`MAX_MESSAGE_CHARS`] before it is rendered.
pub async fn within_limit(mut response: Response) -> Response {
    if let Some(error) = response.extensions_mut().get_mut::<ErrorBody>() {
        error.message = cut(&error.message, MAX_MESSAGE_CHARS);
    }
    let (mut parts, body) = response.into_parts();
    // Action answers are built in memory; reading them back costs a copy.
    let bytes = match axum::body::to_bytes(body, usize::MAX).await {
        Ok(bytes) => bytes,
        Err(_) => return Response::from_parts(parts, Body::empty()),
    };
    if bytes.len() <= MAX_ANSWER_BYTES {
        return Response::from_parts(parts, Body::from(bytes));
    }
    let fitted = match serde_json::from_slice::<Value>(&bytes) {
        Ok(value) => answer(value),
        Err(_) => json!({ "truncated": true, "message": "the answer was too large for ChatGPT and was left out" }),
    };
    tracing::warn!(bytes = bytes.len(), "an action answer over ChatGPT's limit was cut down");
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.insert(header::CONTENT_TYPE, header::HeaderValue::from_static("application/json"));
    Response::from_parts(parts, Body::from(fitted.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn huge(n: usize) -> Value {
        let long = "x".repeat(5_000);
        json!({
            "items": (0..n).map(|i| json!({ "i": i, "text": long, "nested": { "deeper": [long, long] } })).collect::<Vec<_>>(),
            "receipt_ids": ["00000000-0000-4000-8000-000000000000"],
        })
    }

    #[test]
    fn strings_are_cut_on_characters_and_say_so() {
        assert_eq!(cut("héllo", 10), "héllo");
        assert_eq!(cut("héllo wörld", 5), "héll…");
        assert_eq!(cut("ééééé", 5).chars().count(), 5);
    }

    #[test]
    fn an_item_always_fits_its_budget() {
        let big = huge(30);
        for budget in [20, 200, 2_000, 20_000] {
            assert!(size(&item(&big, budget)) <= budget, "{budget}");
        }
        let small = json!({ "a": 1 });
        assert_eq!(item(&small, 100), small, "what fits is left alone");
    }

    #[test]
    fn pages_say_what_they_hold_and_where_the_next_starts() {
        let items = json!((0..25).collect::<Vec<_>>());
        let (first, info) = paged(&items, Page { offset: 0, limit: 10 }, 100);
        assert_eq!(first.len(), 10);
        assert_eq!(
            Value::Object(info),
            json!({ "total": 25, "returned": 10, "offset": 0, "truncated": true, "next_offset": 10 })
        );
        let (last, info) = paged(&items, Page { offset: 20, limit: 10 }, 100);
        assert_eq!(last, (20..25).map(|i| json!(i)).collect::<Vec<_>>());
        assert_eq!(info["truncated"], false);
        assert_eq!(info["next_offset"], Value::Null);
        let (beyond, info) = paged(&items, Page { offset: 99, limit: 10 }, 100);
        assert!(beyond.is_empty());
        assert_eq!(info["returned"], 0);
        let (none, info) = paged(&json!("not a list"), Page { offset: 0, limit: 10 }, 100);
        assert!(none.is_empty() && info["total"] == 0);
    }

    #[test]
    fn the_safety_net_cuts_any_answer_under_the_limit_and_keeps_the_receipts() {
        let body = huge(200);
        assert!(size(&body) > MAX_ANSWER_BYTES);
        let fitted = answer(body);
        assert!(size(&fitted) <= MAX_ANSWER_BYTES);
        assert_eq!(fitted["truncated"], true);
        assert_eq!(fitted["receipt_ids"][0], "00000000-0000-4000-8000-000000000000");
        assert_eq!(answer(json!({ "ok": 1 })), json!({ "ok": 1 }), "what fits is left alone");
    }

    #[tokio::test]
    async fn the_response_layer_cuts_an_oversized_answer_and_long_error_messages() {
        use axum::response::IntoResponse;

        let oversized = axum::Json(huge(200)).into_response();
        let fitted = within_limit(oversized).await;
        let bytes = axum::body::to_bytes(fitted.into_body(), usize::MAX).await.unwrap();
        assert!(bytes.len() <= MAX_ANSWER_BYTES, "{}", bytes.len());
        let body: Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(body["truncated"], true);

        let small = within_limit(axum::Json(json!({ "ok": true })).into_response()).await;
        let bytes = axum::body::to_bytes(small.into_body(), usize::MAX).await.unwrap();
        assert_eq!(serde_json::from_slice::<Value>(&bytes).unwrap(), json!({ "ok": true }));

        let error = crate::error::ApiError::BadRequest("y".repeat(10_000)).into_response();
        let error = within_limit(error).await;
        let message = &error.extensions().get::<ErrorBody>().unwrap().message;
        assert_eq!(message.chars().count(), MAX_MESSAGE_CHARS);
    }

    #[test]
    fn offsets_and_limits_refuse_what_they_cannot_be() {
        assert!(Offset::try_from(0).is_ok() && Offset::try_from(MAX_OFFSET as u64).is_ok());
        assert!(Offset::try_from(MAX_OFFSET as u64 + 1).is_err());
        assert!(Limit::<10>::try_from(0).is_err() && Limit::<10>::try_from(11).is_err());
        assert_eq!(Limit::<10>::try_from(10).unwrap().get(), 10);
    }
}
