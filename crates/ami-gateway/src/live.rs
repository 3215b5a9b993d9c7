//! The live-state endpoints: `GET /v1/servers/{name}/state` (the whole snapshot), `/calls`,
//! `/queues` and `/agents` (parts of it), and the rule for who may read the state.
//!
//! The snapshot is `ami_state::Snapshot` as serde writes it, so what the model gains (new
//! objects, new fields) is served without a change here; a part is picked from it by its
//! field name.
//!
//! Who may read: the state is made of events, so a token reads it where it could read those
//! events. It must be allowed to use the server (otherwise the same 404 as an unknown server)
//! and its event classes must admit the classes the part is built from: `call` for channels,
//! calls and bridges, `agent` for queues and agents (Asterisk's classes of the queue events),
//! both for the whole state (otherwise 403).

use axum::Extension;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value};

use crate::api::{Caller, forbid, path_error, server_for};
use crate::auth::class_allowed;
use crate::error::AppError;
use crate::state::AppState;

/// The event classes the whole state is built from.
pub(crate) const STATE_CLASSES: &[&str] = &["call", "agent"];

/// A 403 unless the caller's event classes admit every one of `needed`.
pub(crate) fn may_read(state: &AppState, caller: &Caller, needed: &[&str]) -> Result<(), AppError> {
    let missing: Vec<&str> = needed
        .iter()
        .copied()
        .filter(|class| !class_allowed(&caller.0.events, Some(class.as_bytes())))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    Err(forbid(
        state,
        caller,
        format!(
            "reading this part of the live state needs the event classes {} in the token's events (or \"*\")",
            missing.join(" and ")
        ),
    ))
}

/// Checks access to `name`'s state and returns the snapshot fields `fields`, or 404 when the
/// model has no such part.
fn part(
    state: &AppState,
    caller: &Caller,
    path: Result<Path<String>, PathRejection>,
    classes: &[&str],
    fields: &[&str],
) -> Result<Response, AppError> {
    let Path(name) = path.map_err(path_error)?;
    let server = server_for(state, caller, &name)?;
    may_read(state, caller, classes)?;
    let mut snapshot = server.state_json();
    if fields.is_empty() {
        return Ok(axum::Json(Value::Object(snapshot)).into_response());
    }
    let mut out = Map::new();
    for field in fields {
        let Some(value) = snapshot.remove(*field) else {
            return Err(AppError::not_found(format!(
                "this gateway's live state has no {field}"
            )));
        };
        out.insert((*field).to_owned(), value);
    }
    Ok(axum::Json(Value::Object(out)).into_response())
}

/// `GET /v1/servers/{name}/state`: the whole snapshot.
pub(crate) async fn get_state(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    path: Result<Path<String>, PathRejection>,
) -> Result<Response, AppError> {
    part(&state, &caller, path, STATE_CLASSES, &[])
}

/// `GET /v1/servers/{name}/calls`: the calls, with the channels they name.
pub(crate) async fn get_calls(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    path: Result<Path<String>, PathRejection>,
) -> Result<Response, AppError> {
    part(&state, &caller, path, &["call"], &["calls", "channels"])
}

/// `GET /v1/servers/{name}/queues`: the queues with their members and callers.
pub(crate) async fn get_queues(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    path: Result<Path<String>, PathRejection>,
) -> Result<Response, AppError> {
    part(&state, &caller, path, &["agent"], &["queues"])
}

/// `GET /v1/servers/{name}/agents`: the agents, once the state model keeps them (404 until
/// then: nothing is made up).
pub(crate) async fn get_agents(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    path: Result<Path<String>, PathRejection>,
) -> Result<Response, AppError> {
    part(&state, &caller, path, &["agent"], &["agents"])
}
