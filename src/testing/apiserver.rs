//! A hand-played API server for unit tests: a `kube::Client` over `tower_test::mock`, whose
//! requests the test takes one by one, checks and answers (as kube-rs's controller-rs does).

use axum::http::{Request, Response, StatusCode};
use kube::client::Body;
use serde_json::{Value, json};
use tower_test::mock::SendResponse;

/// The test's end: the requests the client sends, each with its `SendResponse`.
pub type Handle = tower_test::mock::Handle<Request<Body>, Response<Body>>;

/// A client whose default namespace is `namespace`, and the handle that plays the server.
pub fn client(namespace: &str) -> (kube::Client, Handle) {
    let (service, handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    (kube::Client::new(service, namespace), handle)
}

/// A JSON answer.
pub fn respond(status: u16, body: &Value) -> Response<Body> {
    Response::builder()
        .status(StatusCode::from_u16(status).expect("a valid status code"))
        .header("content-type", "application/json")
        .body(Body::from(serde_json::to_vec(body).expect("JSON")))
        .expect("a response")
}

/// Answers `send` with `status` and `body`.
pub fn answer(send: SendResponse<Response<Body>>, status: u16, body: &Value) {
    send.send_response(respond(status, body));
}

/// The `Status` object the API server answers a failure with.
pub fn failure(code: u16, reason: &str) -> Value {
    json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": reason, "code": code})
}

/// The request's body as JSON (`Null` when empty).
pub async fn body(request: Request<Body>) -> Value {
    let bytes = request
        .into_body()
        .collect_bytes()
        .await
        .expect("a request body");
    if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes).expect("a JSON request body")
    }
}
