//! The OpenAPI document: what the routes registered (each handler's `#[utoipa::path]`,
//! collected by utoipa-axum, the monitoring ones again under `/clusters/{cluster}/`), plus
//! what every path shares: the `{cluster}` parameter and its 404 under a cluster, and the
//! answers of the server's own checks (400, 405, 503, 504).

use utoipa::OpenApi;
use utoipa::openapi::path::{Operation, Parameter, ParameterBuilder, ParameterIn, PathItem};
use utoipa::openapi::{Content, Object, Ref, RefOr, Required, Response, ResponseBuilder};

use super::error::ErrorBody;
use super::health::{CheckpointsView, HealthView, JobHealthView, ReasonView};
use super::model::{
    ClusterSourceView, ClusterView, JobMetricsView, JobStatusView, OverviewJob, OverviewView,
    RootExceptionView, StatusAndMetricsView, VertexView,
};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "flink-monitor monitoring API",
        description = "Job status, metrics and exceptions of every discovered Flink cluster."
    ),
    components(schemas(
        ErrorBody,
        JobStatusView,
        VertexView,
        StatusAndMetricsView,
        JobMetricsView,
        OverviewView,
        OverviewJob,
        RootExceptionView,
        ClusterView,
        ClusterSourceView,
        JobHealthView,
        CheckpointsView,
        HealthView,
        ReasonView
    ))
)]
struct ApiDoc;

/// Where the monitoring routes are served again, for one cluster.
pub(super) const IN_CLUSTER: &str = "/clusters/{cluster}";

/// What the document starts from: its title and the schemas it names.
pub(super) fn base() -> utoipa::openapi::OpenApi {
    let mut doc = ApiDoc::openapi();
    doc.info.version = env!("CARGO_PKG_VERSION").to_string();
    doc
}

/// The document of every route the API serves.
pub fn document() -> utoipa::openapi::OpenApi {
    let (_, doc) = super::routes().split_for_parts();
    completed(doc)
}

/// The routes' document, with what their annotations leave out.
fn completed(mut doc: utoipa::openapi::OpenApi) -> utoipa::openapi::OpenApi {
    let cluster_param: Parameter = ParameterBuilder::new()
        .name("cluster")
        .parameter_in(ParameterIn::Path)
        .required(Required::True)
        .description(Some(
            "cluster id: <namespace>.<name>, or the name of a static cluster",
        ))
        .schema(Some(Object::with_type(
            utoipa::openapi::schema::Type::String,
        )))
        .build();
    for (path, item) in doc.paths.paths.iter_mut() {
        if is_in_cluster(path) {
            item.parameters
                .get_or_insert_with(Vec::new)
                .insert(0, cluster_param.clone());
            for (_, operation) in operations(item) {
                if let Some(operation) = operation {
                    if let Some(id) = &mut operation.operation_id {
                        id.push_str("_in_cluster");
                    }
                    in_cluster_responses(operation);
                }
            }
        }
        for (_, operation) in operations(item) {
            if let Some(operation) = operation {
                common_responses(operation, path);
            }
        }
        distinct_operation_ids(item);
    }
    doc
}

/// A monitoring path served for one cluster (`/clusters/{cluster}` itself is not one).
pub(super) fn is_in_cluster(path: &str) -> bool {
    path.strip_prefix(IN_CLUSTER)
        .is_some_and(|rest| rest.starts_with('/') && rest.len() > 1)
}

fn error_response(description: &str) -> RefOr<Response> {
    RefOr::T(
        ResponseBuilder::new()
            .description(description)
            .content(
                "application/json",
                Content::new(Some(Ref::from_schema_name("ErrorBody"))),
            )
            .build(),
    )
}

/// The answers every path can give, whatever its handler: the server's own checks of a
/// request (a body, the size of its head, a wrong method) and limits, and where the path has
/// parameters, a malformed one.
fn common_responses(operation: &mut Operation, path: &str) {
    let malformed = if path.contains("{uuid}") {
        "4001: a malformed job name or query parameter, or a request body"
    } else if path.contains("{cluster}") {
        "4001: a malformed cluster id, or a request body"
    } else {
        "4001: a request body (no endpoint takes one)"
    };
    let always = [
        ("400", malformed),
        ("405", "4005: the method is not allowed here (see Allow)"),
        ("414", "4001: the request target is too long"),
        ("431", "4001: the headers are too large, or too many"),
        ("503", "5000: too many requests at once"),
        ("504", "5000: no answer within the request timeout"),
    ];
    for (code, description) in always {
        operation
            .responses
            .responses
            .entry(code.into())
            .or_insert_with(|| error_response(description));
    }
}

/// Under `/clusters/{cluster}/` a name cannot be on several clusters (no 409 / 4007), and
/// the cluster itself may be unknown (404 / 4009).
fn in_cluster_responses(operation: &mut Operation) {
    let responses = &mut operation.responses.responses;
    let ambiguous = |response: &RefOr<Response>| matches!(response, RefOr::T(r) if r.description.contains("4007"));
    if responses.get("409").is_some_and(ambiguous) {
        responses.remove("409");
    }
    let description = match responses.get("404") {
        Some(RefOr::T(r)) if !r.description.is_empty() => {
            format!("{}; 4009: no such cluster", r.description)
        }
        Some(_) => "4006: no job with that name; 4009: no such cluster".to_string(),
        None => "4009: no such cluster".to_string(),
    };
    responses.insert("404".into(), error_response(&description));
}

/// The operations of a path item with their lowercase method names.
pub(super) fn operations(item: &mut PathItem) -> [(&'static str, &mut Option<Operation>); 8] {
    [
        ("get", &mut item.get),
        ("post", &mut item.post),
        ("head", &mut item.head),
        ("put", &mut item.put),
        ("delete", &mut item.delete),
        ("patch", &mut item.patch),
        ("options", &mut item.options),
        ("trace", &mut item.trace),
    ]
}

/// OpenAPI wants every `operationId` unique; an operation served for several methods
/// (stop: GET and POST) shares one, so the later methods get theirs suffixed.
fn distinct_operation_ids(item: &mut PathItem) {
    let mut seen = Vec::new();
    for (method, operation) in operations(item) {
        let Some(id) = operation.as_mut().and_then(|o| o.operation_id.as_mut()) else {
            continue;
        };
        if seen.contains(id) {
            id.push('_');
            id.push_str(method);
        }
        seen.push(id.clone());
    }
}

pub fn json() -> String {
    document()
        .to_pretty_json()
        .unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_operation_documents_the_server_s_own_answers() {
        let mut doc = document();
        for (path, item) in doc.paths.paths.iter_mut() {
            for (method, operation) in operations(item) {
                let Some(operation) = operation else { continue };
                for code in ["200", "400", "405", "414", "431", "503", "504"] {
                    assert!(
                        operation.responses.responses.contains_key(code),
                        "{method} {path} does not document {code}"
                    );
                }
            }
        }
    }
}
