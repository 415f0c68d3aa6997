//! The operator API: registering, listing, rotating and deleting OAuth clients over HTTP.
//!
//! | route | does |
//! |---|---|
//! | `POST /oauth/clients` | registers a client; `201` with its secret, shown only here |
//! | `GET /oauth/clients` | `{"clients": [...]}`, never a secret or hash |
//! | `GET /oauth/clients/{id}` | one client, `404` when unknown |
//! | `DELETE /oauth/clients/{id}` | org-wide revocation: the client and every grant and token of it, at once; `204`, `404` when unknown or already deleted |
//! | `POST /oauth/clients/{id}/rotate-secret` | a new secret; `{"keep_previous_for_seconds": n}` keeps the old one valid up to 7 days; the body may be omitted |
//!
//! Every route requires `Authorization: Bearer <ADMIN_TOKEN>` (RFC 6750 §2.1); anything
//! else is a `401` with a `WWW-Authenticate` challenge. The check runs before the body is
//! read, so an unauthenticated caller learns nothing about validation. The work itself is
//! [`clients`], which `connector clients …` calls too.

pub mod clients;

use axum::body::Bytes;
use axum::extract::{FromRequest, Path, Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};

use crate::error::ApiError;
use crate::http::extract::{self, bearer_token};
use crate::ids::ClientId;
use crate::state::AppState;

use self::clients::{ClientView, CreatedClient, NewClient, RotatedSecret};

/// The operator routes, behind the admin credential.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/oauth/clients", post(create).get(list))
        .route("/oauth/clients/{id}", get(show).delete(delete))
        .route("/oauth/clients/{id}/rotate-secret", post(rotate_secret))
        // route_layer: only matched routes ask for credentials, so an unknown path stays
        // a plain 404 when this fragment is merged with the others.
        .route_layer(middleware::from_fn_with_state(state.clone(), require_admin))
        .with_state(state)
}

/// Lets a request through only with `Authorization: Bearer <ADMIN_TOKEN>`.
async fn require_admin(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let presented = bearer_token(req.headers());
    let admitted = presented.is_some_and(|token| {
        // Comparing hashes compares equal-length strings, so neither the token's length
        // nor its common prefix with the presented one leaks through timing.
        crate::TokenHash::of(state.config.admin_token.expose_secret()).matches(token)
    });
    if !admitted {
        let message = if presented.is_some() {
            "the admin token is not valid"
        } else {
            "this route requires the admin token as a Bearer credential"
        };
        return ApiError::Unauthorized { code: "invalid_token", message: message.into() }.into_response();
    }
    next.run(req).await
}

/// The credential of an `Authorization: Bearer …` header (the scheme is case-insensitive).
#[derive(Serialize)]
struct ClientList {
    clients: Vec<ClientView>,
}

/// The body of `rotate-secret`; all of it optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RotateSecretRequest {
    #[serde(default)]
    keep_previous_for_seconds: Option<u32>,
}

async fn create(
    State(state): State<AppState>,
    extract::Json(new): extract::Json<NewClient>,
) -> Result<(StatusCode, Json<CreatedClient>), ApiError> {
    let created = clients::create_client(state.store.as_ref(), new, chrono::Utc::now()).await?;
    Ok((StatusCode::CREATED, Json(created)))
}

async fn list(State(state): State<AppState>) -> Result<Json<ClientList>, ApiError> {
    let clients = clients::list_clients(state.store.as_ref(), chrono::Utc::now()).await?;
    Ok(Json(ClientList { clients }))
}

async fn show(State(state): State<AppState>, Path(id): Path<ClientId>) -> Result<Json<ClientView>, ApiError> {
    let client = clients::get_client(state.store.as_ref(), &id, chrono::Utc::now()).await?;
    Ok(Json(client))
}

async fn delete(State(state): State<AppState>, Path(id): Path<ClientId>) -> Result<StatusCode, ApiError> {
    clients::delete_client(state.store.as_ref(), &id, chrono::Utc::now()).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn rotate_secret(
    State(state): State<AppState>,
    Path(id): Path<ClientId>,
    OptionalJson(body): OptionalJson<RotateSecretRequest>,
) -> Result<Json<RotatedSecret>, ApiError> {
    let keep = body.keep_previous_for_seconds.unwrap_or(0);
    let rotated = clients::rotate_secret(state.store.as_ref(), &id, keep, chrono::Utc::now()).await?;
    Ok(Json(rotated))
}

/// [`extract::Json`], except that an empty body means `T::default()`: "rotate now, keep
/// nothing" should not need `-d '{}'`. A non-empty body gets every usual check.
struct OptionalJson<T>(T);

impl<S, T> FromRequest<S> for OptionalJson<T>
where
    T: serde::de::DeserializeOwned + Default,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let (parts, body) = req.into_parts();
        let bytes = Bytes::from_request(Request::from_parts(parts.clone(), body), state)
            .await
            .map_err(|_| ApiError::PayloadTooLarge { limit: crate::http::MAX_BODY_BYTES })?;
        if bytes.is_empty() {
            return Ok(OptionalJson(T::default()));
        }
        let req = Request::from_parts(parts, axum::body::Body::from(bytes));
        let extract::Json(value) = extract::Json::<T>::from_request(req, state).await?;
        Ok(OptionalJson(value))
    }
}
