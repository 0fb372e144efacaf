//! What a request's path names, as extractors: the job (`{uuid}`) and where to look for it
//! (every cluster at the root, one under `/clusters/{cluster}/`). axum percent-decodes the
//! parameters; these check them (4001) and look the cluster up (4009), in the contract's
//! order, before a handler runs.

use std::sync::Arc;

use axum::extract::rejection::RawPathParamsRejection;
use axum::extract::{FromRequestParts, Path, RawPathParams};
use axum::http::request::Parts;

use crate::clusters::Cluster;
use crate::flink::dto::JobOverview;

use super::AppState;
use super::error::ApiError;
use super::lookup::{Scope, resolve};

/// The longest uuid accepted, in bytes after percent-decoding.
pub const MAX_UUID_BYTES: usize = 1024;

/// A monitoring request about one job: its name and the clusters to look in.
pub(super) struct JobRequest {
    pub name: String,
    pub scope: Scope,
}

/// The job a monitoring request names, found where it can be asked now (see `resolve`).
pub(super) struct FoundJob {
    /// The name asked for.
    pub name: String,
    pub cluster: Arc<Cluster>,
    pub job: JobOverview,
}

/// `/clusters/{cluster}`: the cluster the path names.
pub(super) struct ClusterPath(pub Arc<Cluster>);

/// What an extractor makes of the path's parameters, once they are decoded.
trait FromPathParams: Sized {
    fn from_params(app: &AppState, params: &RawPathParams) -> Result<Self, ApiError>;
}

impl FromPathParams for Scope {
    /// Every cluster, or under `/clusters/{cluster}/` the one named (4001 if malformed, 4009
    /// if unknown).
    fn from_params(app: &AppState, params: &RawPathParams) -> Result<Self, ApiError> {
        match param(params, "cluster") {
            None => Ok(Scope::All),
            Some(raw) => Ok(Scope::One(app.cluster(&checked(raw, "cluster id")?)?)),
        }
    }
}

impl FromPathParams for JobRequest {
    /// The uuid is checked (4001) before the cluster is looked up (4009).
    fn from_params(app: &AppState, params: &RawPathParams) -> Result<Self, ApiError> {
        let name = checked(param(params, "uuid").unwrap_or_default(), "uuid")?;
        let scope = Scope::from_params(app, params)?;
        Ok(Self { name, scope })
    }
}

impl FromPathParams for FoundJob {
    fn from_params(app: &AppState, params: &RawPathParams) -> Result<Self, ApiError> {
        let JobRequest { name, scope } = JobRequest::from_params(app, params)?;
        let (cluster, job) = resolve(app, &scope, &name)?;
        Ok(Self { name, cluster, job })
    }
}

impl FromPathParams for ClusterPath {
    fn from_params(app: &AppState, params: &RawPathParams) -> Result<Self, ApiError> {
        match Scope::from_params(app, params)? {
            Scope::One(cluster) => Ok(Self(cluster)),
            Scope::All => Err(ApiError::internal(
                "the route of a cluster has no {cluster} parameter",
            )),
        }
    }
}

/// axum's extractor for each: the parameters are decoded (4001 if not UTF-8), then read.
macro_rules! extract_from_path_params {
    ($($extractor:ty),+) => {$(
        impl FromRequestParts<Arc<AppState>> for $extractor {
            type Rejection = ApiError;

            async fn from_request_parts(
                parts: &mut Parts,
                app: &Arc<AppState>,
            ) -> Result<Self, Self::Rejection> {
                Self::from_params(app, &path_params(parts).await?)
            }
        }
    )+};
}

extract_from_path_params!(Scope, JobRequest, FoundJob, ClusterPath);

fn param<'a>(params: &'a RawPathParams, name: &str) -> Option<&'a str> {
    params.iter().find(|(key, _)| *key == name).map(|(_, v)| v)
}

/// A decoded path parameter: non-empty, at most [`MAX_UUID_BYTES`] bytes.
fn checked(value: &str, what: &str) -> Result<String, ApiError> {
    if value.is_empty() {
        return Err(ApiError::bad_parameter(format!("{what} must not be empty")));
    }
    if value.len() > MAX_UUID_BYTES {
        return Err(ApiError::bad_parameter(format!(
            "{what} is {} bytes long; at most {MAX_UUID_BYTES} are allowed",
            value.len()
        )));
    }
    Ok(value.to_string())
}

/// The path's parameters, percent-decoded. One that is not UTF-8 once decoded is 4001.
async fn path_params(parts: &mut Parts) -> Result<RawPathParams, ApiError> {
    match RawPathParams::from_request_parts(parts, &()).await {
        Ok(params) => Ok(params),
        Err(RawPathParamsRejection::InvalidUtf8InPathParam(_)) => {
            let what = not_utf8(parts).await;
            Err(ApiError::bad_parameter(format!(
                "{what} is not valid UTF-8 once percent-decoded"
            )))
        }
        Err(other) => Err(ApiError::internal(format!(
            "failed to read the path parameters: {}",
            other.body_text()
        ))),
    }
}

/// Which parameter is not UTF-8: `RawPathParams`' rejection does not say, `Path`'s does.
async fn not_utf8(parts: &mut Parts) -> &'static str {
    use axum::extract::path::ErrorKind;
    use axum::extract::rejection::PathRejection;
    match Path::<Vec<(String, String)>>::from_request_parts(parts, &()).await {
        Err(PathRejection::FailedToDeserializePathParams(error)) => match error.kind() {
            ErrorKind::InvalidUtf8InPathParam { key } if key == "cluster" => "cluster id",
            _ => "uuid",
        },
        _ => "uuid",
    }
}
