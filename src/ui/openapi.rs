//! The OpenAPI document of the page's JSON endpoints, served at `/ui/api/openapi.json`
//! (`/openapi.json` stays the monitoring API's). It carries the API's schemas it refers to,
//! so it stands on its own.

use utoipa::OpenApi;

use crate::api::health::{CheckpointsView, HealthView, JobHealthView, ReasonView};
use crate::api::model::{
    ClusterSourceView, ClusterView, JobMetricsView, JobStatusView, RootExceptionView, VertexView,
};

use super::exceptions::ExceptionLine;
use super::flink_ui::FlinkUi;
use super::handlers::{self, JobPage};
use super::jobs::{ClusterJobs, JobRow, JobsView};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "flink-monitor web page API",
        description = "flink-monitor's own endpoints (not TSP's) that its web page at /ui/ reads."
    ),
    paths(handlers::jobs, handlers::job),
    components(schemas(
        JobsView,
        ClusterJobs,
        JobRow,
        ExceptionLine,
        FlinkUi,
        JobPage,
        ClusterView,
        ClusterSourceView,
        JobHealthView,
        CheckpointsView,
        HealthView,
        ReasonView,
        JobStatusView,
        VertexView,
        JobMetricsView,
        RootExceptionView
    ))
)]
struct UiDoc;

pub fn document() -> utoipa::openapi::OpenApi {
    let mut doc = UiDoc::openapi();
    doc.info.version = env!("CARGO_PKG_VERSION").to_string();
    doc
}

/// The document as served: rendered once.
pub fn json() -> String {
    document()
        .to_pretty_json()
        .unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
}
