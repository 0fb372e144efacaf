//! Stop authorization in Kubernetes mode: the caller's bearer token is checked with a
//! TokenReview, and the user it names is authorized with a SubjectAccessReview for
//! `update` on `flinkjobs/stop` in the job's namespace, so cluster RBAC decides who may
//! stop what.

use k8s_openapi::api::authentication::v1::{TokenReview, TokenReviewSpec, UserInfo};
use k8s_openapi::api::authorization::v1::{
    ResourceAttributes, SubjectAccessReview, SubjectAccessReviewSpec,
};
use kube::Api;
use kube::api::PostParams;

/// A review the API server did not answer; `kind` says which (TokenReview or
/// SubjectAccessReview).
#[derive(Debug, thiserror::Error)]
#[error("failed to create a {kind}: {source}")]
pub struct ReviewError {
    kind: &'static str,
    #[source]
    source: kube::Error,
}

/// What a TokenReview said about a token.
#[derive(Debug, Clone, PartialEq)]
pub enum Authentication {
    User(UserInfo),
    Rejected { reason: String },
}

/// The audience a caller's token must be made for by default (`kubectl create token SA
/// --audience flink-monitor`): a token for flink-monitor is then useless against the API
/// server, and an API-server token is refused here.
pub const DEFAULT_AUDIENCE: &str = "flink-monitor";

#[derive(Clone)]
pub struct KubernetesReviewer {
    client: kube::Client,
    /// Sent in the TokenReview; empty: the API server's own audiences.
    audiences: Vec<String>,
}

impl KubernetesReviewer {
    pub fn new(client: kube::Client, audiences: Vec<String>) -> Self {
        let audiences = audiences
            .into_iter()
            .map(|a| a.trim().to_string())
            .filter(|a| !a.is_empty())
            .collect();
        Self { client, audiences }
    }

    pub async fn authenticate(&self, token: &str) -> Result<Authentication, ReviewError> {
        let review = TokenReview {
            spec: TokenReviewSpec {
                token: token.to_string(),
                audiences: (!self.audiences.is_empty()).then(|| self.audiences.clone()),
            },
            ..TokenReview::default()
        };
        let answer = self.create(&review).await?;
        let status = answer.status.unwrap_or_default();
        // An authenticator that ignores audiences answers none; the API docs ask clients
        // that set them to check that one of theirs came back.
        let audience_ok = self.audiences.is_empty()
            || status
                .audiences
                .iter()
                .flatten()
                .any(|a| self.audiences.contains(a));
        match (status.authenticated, status.user) {
            (Some(true), Some(_)) if !audience_ok => Ok(Authentication::Rejected {
                reason: format!(
                    "the token is not meant for {} (its audience must be one of them)",
                    self.audiences.join(", ")
                ),
            }),
            (Some(true), Some(user)) => Ok(Authentication::User(user)),
            _ => Ok(Authentication::Rejected {
                reason: status
                    .error
                    .unwrap_or_else(|| "the token is not valid".into()),
            }),
        }
    }

    /// May `user` stop jobs in `namespace` (None: cluster-wide, for clusters without one)?
    pub async fn may_stop(
        &self,
        user: &UserInfo,
        namespace: Option<&str>,
    ) -> Result<bool, ReviewError> {
        let review = SubjectAccessReview {
            spec: SubjectAccessReviewSpec {
                user: user.username.clone(),
                uid: user.uid.clone(),
                groups: user.groups.clone(),
                extra: user.extra.clone(),
                resource_attributes: Some(ResourceAttributes {
                    group: Some("flinkmonitor.dev".into()),
                    resource: Some("flinkjobs".into()),
                    subresource: Some("stop".into()),
                    verb: Some("update".into()),
                    namespace: namespace.map(String::from),
                    ..ResourceAttributes::default()
                }),
                ..SubjectAccessReviewSpec::default()
            },
            ..SubjectAccessReview::default()
        };
        let answer = self.create(&review).await?;
        Ok(answer.status.is_some_and(|s| s.allowed))
    }

    /// Creates a review (a cluster-scoped object the API server answers in its status).
    async fn create<K>(&self, review: &K) -> Result<K, ReviewError>
    where
        K: k8s_openapi::Resource
            + kube::Resource<Scope = kube::core::ClusterResourceScope>
            + Clone
            + std::fmt::Debug
            + serde::Serialize
            + serde::de::DeserializeOwned,
        K::DynamicType: Default,
    {
        Api::<K>::all(self.client.clone())
            .create(&PostParams::default(), review)
            .await
            .map_err(|source| ReviewError {
                kind: K::KIND,
                source,
            })
    }
}
