//! The OpenAPI entries of the page's JSON endpoints, to merge into the API's document.

use utoipa::OpenApi;

use super::exceptions::ExceptionLine;
use super::flink_ui::FlinkUi;
use super::handlers::{self, JobPage};
use super::jobs::{ClusterJobs, JobRow, JobsView};

#[derive(OpenApi)]
#[openapi(
    paths(handlers::jobs, handlers::job),
    components(schemas(JobsView, ClusterJobs, JobRow, ExceptionLine, FlinkUi, JobPage))
)]
struct UiDoc;

/// The page's paths and schemas (they refer to the API's own schemas by name:
/// `ClusterView`, `JobHealthView`, `JobStatusView`, ...).
pub fn document() -> utoipa::openapi::OpenApi {
    UiDoc::openapi()
}

/// Adds the page's paths and schemas to the API's document.
pub fn extend(doc: &mut utoipa::openapi::OpenApi) {
    doc.merge(document());
}
