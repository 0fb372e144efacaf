//! The success envelope: `{"response": <value>, "messages": [...]}`.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use super::error::ApiError;

#[derive(Serialize, utoipa::ToSchema)]
pub struct Envelope<T> {
    pub response: T,
    pub messages: Vec<String>,
}

/// A 200 answer with `value` wrapped in the envelope.
pub fn ok<T: Serialize>(value: T, messages: Vec<String>) -> Response {
    json_response(
        StatusCode::OK,
        &Envelope {
            response: value,
            messages,
        },
    )
}

/// A 200 answer of JSON already serialized (an envelope included).
pub fn ok_json(bytes: Vec<u8>) -> Response {
    (
        StatusCode::OK,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        bytes,
    )
        .into_response()
}

pub fn json_response<T: Serialize>(status: StatusCode, body: &T) -> Response {
    match serde_json::to_vec(body) {
        Ok(bytes) => (
            status,
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )],
            bytes,
        )
            .into_response(),
        Err(e) => ApiError::internal(format!("failed to encode the answer: {e}")).into_response(),
    }
}
