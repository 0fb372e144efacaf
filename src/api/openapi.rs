//! The OpenAPI document, generated from the handlers' annotations and the response types.
//! Every path of the endpoint table is documented; the monitoring ones at the root and
//! again under `/clusters/{cluster}/`. The stubs below declare what each path answers.

use utoipa::OpenApi;
use utoipa::openapi::path::{Operation, Parameter, ParameterBuilder, ParameterIn, PathItem};
use utoipa::openapi::{Content, Object, Ref, RefOr, Required, Response, ResponseBuilder};

use super::endpoints::ENDPOINTS;
use super::envelope::Envelope;
use super::error::ErrorBody;
use super::health::{CheckpointsView, HealthView, JobHealthView, ReasonView};
use super::model::{
    ClusterSourceView, ClusterView, JobMetricsView, JobStatusView, OverviewJob, OverviewView,
    RootExceptionView, StatusAndMetricsView, VertexView,
};

#[allow(dead_code)]
mod paths {
    use super::*;

    #[utoipa::path(get, path = "/job/{uuid}/status/", tag = "monitoring",
        params(("uuid" = String, Path, description = "the Flink job name")),
        responses((status = 200, body = Envelope<JobStatusView>), (status = 404, description = "4006: no job with that name", body = ErrorBody),
            (status = 409, description = "4007: the name is on several clusters", body = ErrorBody), (status = 502, description = "5005: Flink unreachable", body = ErrorBody)))]
    pub fn status() {}

    #[utoipa::path(get, path = "/job/{uuid}/statusAndMetrics/", tag = "monitoring",
        params(("uuid" = String, Path, description = "the Flink job name")),
        responses((status = 200, body = Envelope<StatusAndMetricsView>), (status = 404, body = ErrorBody), (status = 502, body = ErrorBody)))]
    pub fn status_and_metrics() {}

    #[utoipa::path(method(get, post), path = "/job/{uuid}/stop/", tag = "monitoring",
        params(("uuid" = String, Path, description = "the Flink job name"),
            ("mode" = Option<String>, Query, description = "cancel (default) or savepoint"),
            ("targetDirectory" = Option<String>, Query, description = "savepoint directory (mode=savepoint)"),
            ("drain" = Option<bool>, Query, description = "emit MAX_WATERMARK before stopping (mode=savepoint)")),
        responses((status = 200, body = Envelope<i32>), (status = 401, description = "4010: no credentials", body = ErrorBody),
            (status = 403, description = "4010: not allowed or stop disabled", body = ErrorBody),
            (status = 409, description = "4008: job already terminal", body = ErrorBody), (status = 502, body = ErrorBody)))]
    pub fn stop() {}

    #[utoipa::path(get, path = "/jobs/overview/", tag = "monitoring",
        responses((status = 200, body = Envelope<OverviewView>)))]
    pub fn overview() {}

    #[utoipa::path(get, path = "/jobs/{uuid}/exceptions/", tag = "monitoring",
        params(("uuid" = String, Path, description = "the Flink job name")),
        responses((status = 200, body = Envelope<RootExceptionView>), (status = 404, body = ErrorBody), (status = 502, body = ErrorBody)))]
    pub fn exceptions() {}

    #[utoipa::path(get, path = "/job/{uuid}/exceptions/", tag = "monitoring",
        params(("uuid" = String, Path, description = "the Flink job name")),
        responses((status = 200, body = Envelope<RootExceptionView>), (status = 404, body = ErrorBody), (status = 502, body = ErrorBody)))]
    pub fn exceptions_singular() {}

    #[utoipa::path(get, path = "/job/{uuid}/health/", tag = "monitoring",
        params(("uuid" = String, Path, description = "the Flink job name")),
        responses((status = 200, description = "the last health check, from memory", body = Envelope<JobHealthView>), (status = 404, description = "4006: no job with that name", body = ErrorBody),
            (status = 409, description = "4007: the name is on several clusters", body = ErrorBody), (status = 502, description = "5005: Flink unreachable", body = ErrorBody)))]
    pub fn health() {}

    #[utoipa::path(get, path = "/metainfo/getVersion/", tag = "monitoring",
        responses((status = 200, description = "flink-monitor's own version", body = Envelope<String>)))]
    pub fn version() {}

    #[utoipa::path(get, path = "/clusters", tag = "clusters",
        responses((status = 200, body = Envelope<Vec<ClusterView>>)))]
    pub fn clusters() {}

    #[utoipa::path(get, path = "/clusters/{cluster}", tag = "clusters",
        params(("cluster" = String, Path, description = "cluster id")),
        responses((status = 200, body = Envelope<ClusterView>), (status = 404, description = "4009: no such cluster", body = ErrorBody)))]
    pub fn cluster() {}

    #[utoipa::path(get, path = "/healthz", tag = "service", responses((status = 200, body = Envelope<String>)))]
    pub fn healthz() {}

    #[utoipa::path(get, path = "/readyz", tag = "service",
        responses((status = 200, body = Envelope<String>), (status = 503, description = "5000: not every cluster polled yet", body = ErrorBody)))]
    pub fn readyz() {}

    #[utoipa::path(get, path = "/metrics", tag = "service",
        responses((status = 200, description = "Prometheus metrics (OpenMetrics text)", content_type = "application/openmetrics-text; version=1.0.0; charset=utf-8")))]
    pub fn metrics() {}

    #[utoipa::path(get, path = "/openapi.json", tag = "service",
        responses((status = 200, description = "this OpenAPI 3 document", content_type = "application/json")))]
    pub fn openapi() {}
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "flink-monitor monitoring API",
        description = "Job status, metrics and exceptions of every discovered Flink cluster."
    ),
    paths(
        paths::status,
        paths::status_and_metrics,
        paths::stop,
        paths::overview,
        paths::exceptions,
        paths::exceptions_singular,
        paths::health,
        paths::version,
        paths::clusters,
        paths::cluster,
        paths::healthz,
        paths::readyz,
        paths::metrics,
        paths::openapi
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

pub fn document() -> utoipa::openapi::OpenApi {
    let mut doc = ApiDoc::openapi();
    doc.info.version = env!("CARGO_PKG_VERSION").to_string();
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
    let mut scoped = Vec::new();
    for endpoint in ENDPOINTS {
        let (Some(in_cluster), Some(item)) =
            (endpoint.in_cluster, doc.paths.paths.get(endpoint.path))
        else {
            continue;
        };
        let mut item = item.clone();
        let params = item.parameters.get_or_insert_with(Vec::new);
        params.insert(0, cluster_param.clone());
        for (_, operation) in operations(&mut item) {
            if let Some(operation) = operation {
                if let Some(id) = &mut operation.operation_id {
                    id.push_str("_in_cluster");
                }
                in_cluster_responses(operation);
            }
        }
        scoped.push((in_cluster.to_string(), item));
    }
    doc.paths.paths.extend(scoped);
    for endpoint in ENDPOINTS {
        for pattern in endpoint.patterns() {
            let Some(item) = doc.paths.paths.get_mut(pattern) else {
                continue;
            };
            for (_, operation) in operations(item) {
                if let Some(operation) = operation {
                    common_responses(operation, endpoint.names_a_job());
                }
            }
            distinct_operation_ids(item);
        }
    }
    doc
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

/// The answers every path can give, whatever its handler: the server's own limits, a wrong
/// method, and (where a job name or a query is parsed) a malformed parameter.
fn common_responses(operation: &mut Operation, names_a_job: bool) {
    let malformed = ("400", "4001: a malformed job name or query parameter");
    let always = [
        ("405", "4005: the method is not allowed here (see Allow)"),
        ("503", "5000: too many requests at once"),
        ("504", "5000: no answer within the request timeout"),
    ];
    let parsed = names_a_job.then_some(malformed);
    for (code, description) in parsed.into_iter().chain(always) {
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
