//! The stop endpoint: authenticate, authorize before the lookup, confirm on the job's
//! cluster, then ask Flink to cancel or to stop with a savepoint.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, Uri};
use axum::response::Response;

use crate::flink::{StopRequest, is_globally_terminal};

use crate::api::AppState;
use crate::api::envelope::{Envelope, ok};
use crate::api::error::{ApiError, ErrorBody};
use crate::api::extract::JobRequest;
use crate::api::lookup::{flink_failure, resolve};

use super::query::{StopMode, parse_stop_query};

#[utoipa::path(method(get, post), path = "/job/{uuid}/stop/", tag = "monitoring",
    params(("uuid" = String, Path, description = "the Flink job name"),
        ("mode" = Option<String>, Query, description = "cancel (default) or savepoint"),
        ("targetDirectory" = Option<String>, Query, description = "savepoint directory (mode=savepoint)"),
        ("drain" = Option<bool>, Query, description = "emit MAX_WATERMARK before stopping (mode=savepoint)")),
    responses((status = 200, body = Envelope<i32>), (status = 401, description = "4010: no credentials", body = ErrorBody),
        (status = 403, description = "4010: not allowed or stop disabled", body = ErrorBody),
        (status = 409, description = "4008: job already terminal", body = ErrorBody), (status = 502, body = ErrorBody)))]
pub(in crate::api) async fn stop(
    State(app): State<Arc<AppState>>,
    JobRequest { name, scope }: JobRequest,
    uri: Uri,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let uuid = name.as_str();
    let refused = |e: &ApiError| tracing::warn!(job = uuid, code = e.code, reason = ?e.errors, "stop refused");
    let caller = app
        .stop_guard
        .authenticate(&headers)
        .await
        .inspect_err(refused)?;
    let mode = parse_stop_query(uri.query())?;
    // Authorized before the lookup: a caller who may stop nothing learns nothing.
    let namespaces = scope
        .clusters(&app)
        .iter()
        .map(|c| c.info().namespace.clone())
        .collect();
    let mut permit = app
        .stop_guard
        .authorize(&caller, namespaces)
        .await
        .inspect_err(|e| tracing::warn!(caller = %caller.name, job = uuid, code = e.code, reason = ?e.errors, "stop refused"))?;
    let (cluster, job) = resolve(&app, &scope, uuid)?;
    app.stop_guard
        .confirm(&caller, &mut permit, cluster.info().namespace.as_deref())
        .await
        .inspect_err(|e| tracing::warn!(caller = %caller.name, cluster = cluster.id(), job = uuid, code = e.code, reason = ?e.errors, "stop refused"))?;
    if is_globally_terminal(job.state()) {
        return Err(ApiError::already_terminal(job.state()));
    }
    let client = cluster.client();
    let result = match &mode {
        StopMode::Cancel => client.cancel(&job.jid).await.map(|()| {
            format!(
                "cancel of job {} on cluster {} accepted by flink",
                job.jid,
                cluster.id()
            )
        }),
        StopMode::Savepoint {
            target_directory,
            drain,
        } => {
            let request = StopRequest {
                target_directory: target_directory.clone(),
                drain: *drain,
            };
            client
                .stop_with_savepoint(&job.jid, &request)
                .await
                .map(|trigger| format!("trigger-id: {trigger}"))
        }
    };
    let kind = match mode {
        StopMode::Cancel => "cancel",
        StopMode::Savepoint { .. } => "savepoint",
    };
    match result {
        Ok(message) => {
            tracing::info!(caller = %caller.name, cluster = cluster.id(), job = uuid, jid = %job.jid, mode = kind, "job stop accepted");
            cluster.request_poll();
            Ok(ok(1, vec![message]))
        }
        Err(error) => {
            tracing::warn!(caller = %caller.name, cluster = cluster.id(), job = uuid, jid = %job.jid, mode = kind, %error, "job stop failed");
            Err(match error.status() {
                // Flink refuses to cancel a job that ended since the last poll.
                Some(409) => ApiError::already_terminal("already terminal according to flink"),
                _ => flink_failure(&cluster, error),
            })
        }
    }
}
