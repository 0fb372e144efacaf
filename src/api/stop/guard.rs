//! Who may stop jobs: the guard, and the permit it grants for a request.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use axum::http::{HeaderMap, header};

use super::review::{Authentication, KubernetesReviewer};
use crate::api::error::ApiError;

/// Who may stop jobs. Checked before the job is looked up.
#[derive(Clone, Default)]
pub enum StopGuard {
    /// The default: every stop answers 403 / 4010.
    #[default]
    Disabled,
    /// `--enable-stop` without a token file: no credentials needed.
    Open,
    /// `--enable-stop --stop-token-file F`: `Authorization: Bearer <token>` required.
    StaticToken(Arc<str>),
    /// `--enable-stop` in Kubernetes mode: TokenReview + SubjectAccessReview.
    Kubernetes(KubernetesReviewer),
}

impl std::fmt::Debug for StopGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the token.
        f.write_str(match self {
            Self::Disabled => "Disabled",
            Self::Open => "Open",
            Self::StaticToken(_) => "StaticToken(<redacted>)",
            Self::Kubernetes(_) => "Kubernetes(TokenReview + SubjectAccessReview)",
        })
    }
}

/// Who asks for a stop, for the authorization and the log line.
#[derive(Debug, Clone, PartialEq)]
pub struct Caller {
    pub name: String,
    user: Option<k8s_openapi::api::authentication::v1::UserInfo>,
}

impl Caller {
    fn named(name: &str) -> Self {
        Self {
            name: name.to_string(),
            user: None,
        }
    }
}

impl StopGuard {
    /// Who is asking: 401 without credentials, 403 with wrong ones. Runs before the job
    /// is looked up.
    pub async fn authenticate(&self, headers: &HeaderMap) -> Result<Caller, ApiError> {
        match self {
            Self::Kubernetes(reviewer) => {
                let token = bearer_token(headers).ok_or_else(ApiError::unauthenticated)?;
                match reviewer.authenticate(token).await {
                    Ok(Authentication::User(user)) => Ok(Caller {
                        name: user
                            .username
                            .clone()
                            .unwrap_or_else(|| "(unnamed user)".into()),
                        user: Some(user),
                    }),
                    Ok(Authentication::Rejected { reason }) => {
                        Err(ApiError::unauthenticated_because(format!(
                            "the token was rejected: {reason}"
                        )))
                    }
                    Err(error) => Err(ApiError::internal(format!(
                        "{error}; stop is refused until the token can be checked"
                    ))),
                }
            }
            Self::Disabled => Err(ApiError::forbidden(
                "stop is disabled; start flink-monitor with --enable-stop to allow it",
            )),
            Self::Open => Ok(Caller::named("anonymous (stop is open)")),
            Self::StaticToken(expected) => {
                let token = bearer_token(headers).ok_or_else(ApiError::unauthenticated)?;
                if constant_time_eq(token.as_bytes(), expected.as_bytes()) {
                    Ok(Caller::named("holder of the stop token"))
                } else {
                    Err(ApiError::forbidden(
                        "the bearer token is not the stop token",
                    ))
                }
            }
        }
    }

    /// May the caller stop jobs in any of `namespaces`: those of the clusters the request
    /// can reach (None: a cluster without one, checked cluster-wide; no cluster at all:
    /// cluster-wide)? Allowed in one is enough to go on; the job found must then be in an
    /// allowed namespace ([`Self::confirm`]). Runs before the job is looked up, so a caller
    /// who may not stop anything never learns whether a job exists. Cluster RBAC decides
    /// in Kubernetes mode; the other guards decided when authenticating.
    pub async fn authorize(
        &self,
        caller: &Caller,
        namespaces: BTreeSet<Option<String>>,
    ) -> Result<Permit, ApiError> {
        let (Self::Kubernetes(reviewer), Some(user)) = (self, &caller.user) else {
            return Ok(Permit::everywhere());
        };
        let namespaces = if namespaces.is_empty() {
            BTreeSet::from([None])
        } else {
            namespaces
        };
        let mut permit = Permit::default();
        let listed: Vec<&Option<String>> = namespaces.iter().collect();
        for chunk in listed.chunks(REVIEWS_AT_ONCE) {
            let mut reviews = Vec::with_capacity(chunk.len());
            for namespace in chunk {
                reviews.push(reviewer.may_stop(user, namespace.as_deref()));
            }
            let answers = futures::future::join_all(reviews).await;
            for (namespace, answer) in chunk.iter().zip(answers) {
                let allowed = answer.map_err(|error| {
                    ApiError::internal(format!(
                        "{error}; stop is refused until access can be checked"
                    ))
                })?;
                permit.checked.insert((*namespace).clone(), allowed);
            }
            if permit.checked.values().any(|allowed| *allowed) {
                return Ok(permit);
            }
        }
        Err(ApiError::forbidden(format!(
            "{} may not update flinkjobs/stop {}; grant it with RBAC",
            caller.name,
            scope_text(&namespaces)
        )))
    }

    /// May the caller stop the job found, of a cluster in `namespace`? Asks only about a
    /// namespace [`Self::authorize`] did not.
    pub async fn confirm(
        &self,
        caller: &Caller,
        permit: &mut Permit,
        namespace: Option<&str>,
    ) -> Result<(), ApiError> {
        let (Self::Kubernetes(reviewer), Some(user)) = (self, &caller.user) else {
            return Ok(());
        };
        if permit.everywhere {
            return Ok(());
        }
        let key = namespace.map(String::from);
        let allowed = match permit.checked.get(&key) {
            Some(allowed) => *allowed,
            None => {
                let allowed = reviewer.may_stop(user, namespace).await.map_err(|error| {
                    ApiError::internal(format!(
                        "{error}; stop is refused until access can be checked"
                    ))
                })?;
                permit.checked.insert(key.clone(), allowed);
                allowed
            }
        };
        if allowed {
            return Ok(());
        }
        Err(ApiError::forbidden(format!(
            "{} may not update flinkjobs/stop {}; grant it with RBAC",
            caller.name,
            scope_text(&BTreeSet::from([key]))
        )))
    }
}

pub fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// Compares without an early exit, so timing does not reveal how much of a guess matched.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// SubjectAccessReviews in flight at once for one stop request.
const REVIEWS_AT_ONCE: usize = 4;

/// Where a caller may stop jobs, as far as the guard has asked.
#[derive(Debug, Default)]
pub struct Permit {
    /// The guard is not Kubernetes RBAC: authentication decided.
    everywhere: bool,
    /// Namespace (None: cluster-wide) -> allowed.
    checked: BTreeMap<Option<String>, bool>,
}

impl Permit {
    fn everywhere() -> Self {
        Self {
            everywhere: true,
            checked: BTreeMap::new(),
        }
    }
}

/// "in namespace a", "cluster-wide", or "in any of namespaces a, b, ... (N in all)".
fn scope_text(namespaces: &BTreeSet<Option<String>>) -> String {
    const SHOWN: usize = 5;
    let name = |ns: &Option<String>| ns.clone().unwrap_or_else(|| "(cluster-wide)".into());
    match namespaces.len() {
        0 => "anywhere".into(),
        1 => match namespaces.iter().next() {
            Some(Some(ns)) => format!("in namespace {ns}"),
            _ => "cluster-wide".into(),
        },
        n => {
            let shown: Vec<String> = namespaces.iter().take(SHOWN).map(name).collect();
            let more = if n > SHOWN {
                format!(", ... ({n} in all)")
            } else {
                String::new()
            };
            format!(
                "in any of the namespaces this request can reach: {}{more}",
                shown.join(", ")
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(auth: Option<&str>) -> HeaderMap {
        let mut h = HeaderMap::new();
        if let Some(a) = auth {
            h.insert(header::AUTHORIZATION, HeaderValue::from_str(a).unwrap());
        }
        h
    }

    #[tokio::test]
    async fn the_static_token_guard_wants_exactly_the_token() {
        let guard = StopGuard::StaticToken("s3cret".into());
        assert!(
            guard
                .authenticate(&headers(Some("Bearer s3cret")))
                .await
                .is_ok()
        );
        assert!(
            guard
                .authenticate(&headers(Some("bearer  s3cret ")))
                .await
                .is_ok()
        );
        let missing = guard.authenticate(&headers(None)).await.unwrap_err();
        assert_eq!((missing.status.as_u16(), missing.code), (401, 4010));
        let wrong = guard
            .authenticate(&headers(Some("Bearer s3cre")))
            .await
            .unwrap_err();
        assert_eq!((wrong.status.as_u16(), wrong.code), (403, 4010));
        let basic = guard
            .authenticate(&headers(Some("Basic s3cret")))
            .await
            .unwrap_err();
        assert_eq!(basic.status.as_u16(), 401);
    }

    #[tokio::test]
    async fn disabled_is_403_and_open_needs_nothing() {
        let denied = StopGuard::Disabled
            .authenticate(&headers(None))
            .await
            .unwrap_err();
        assert_eq!((denied.status.as_u16(), denied.code), (403, 4010));
        assert!(StopGuard::Open.authenticate(&headers(None)).await.is_ok());
        assert!(!format!("{:?}", StopGuard::StaticToken("s3cret".into())).contains("s3cret"));
    }
}

#[cfg(test)]
mod kubernetes_tests {
    use super::*;
    use axum::http::{HeaderValue, Method};
    use serde_json::{Value, json};

    use crate::testing::apiserver::{self, Handle};

    fn guard() -> (StopGuard, Handle) {
        let (client, handle) = apiserver::client("default");
        (
            StopGuard::Kubernetes(KubernetesReviewer::new(
                client,
                vec![super::super::review::DEFAULT_AUDIENCE.into()],
            )),
            handle,
        )
    }

    fn bearer(token: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_str(&format!("Bearer {token}")).unwrap(),
        );
        h
    }

    /// Takes the next request, checks its path, answers `status` with `body`.
    async fn answer(
        handle: &mut Handle,
        path: &str,
        status: u16,
        body: impl Fn(Value) -> Value,
    ) -> Value {
        let (request, send) = handle.next_request().await.expect("an API request");
        assert_eq!(request.method(), Method::POST);
        assert_eq!(request.uri().path(), path);
        let sent = apiserver::body(request).await;
        apiserver::answer(send, status, &body(sent.clone()));
        sent
    }

    const TOKEN_REVIEWS: &str = "/apis/authentication.k8s.io/v1/tokenreviews";
    const ACCESS_REVIEWS: &str = "/apis/authorization.k8s.io/v1/subjectaccessreviews";

    /// An API server that authenticates the token as alice and answers her access review
    /// with `allowed`; it gives back both reviews as sent.
    fn alice_reviewed(mut api: Handle, allowed: bool) -> tokio::task::JoinHandle<(Value, Value)> {
        tokio::spawn(async move {
            let token_review = answer(&mut api, TOKEN_REVIEWS, 201, |mut review| {
                let audiences = review["spec"]["audiences"].clone();
                review["status"] = json!({"authenticated": true, "audiences": audiences, "user": {"username": "alice", "uid": "u-1", "groups": ["team-a"]}});
                review
            })
            .await;
            let access_review = answer(&mut api, ACCESS_REVIEWS, 201, |mut review| {
                review["status"] = json!({"allowed": allowed});
                review
            })
            .await;
            (token_review, access_review)
        })
    }

    #[tokio::test]
    async fn an_allowed_user_may_stop_and_the_reviews_ask_the_right_question() {
        let (guard, api) = guard();
        let server = alice_reviewed(api, true);
        let caller = guard.authenticate(&bearer("sa-token")).await.unwrap();
        assert_eq!(caller.name, "alice");
        let mut permit = guard
            .authorize(&caller, BTreeSet::from([Some("team-a".into())]))
            .await
            .unwrap();
        guard
            .confirm(&caller, &mut permit, Some("team-a"))
            .await
            .unwrap();
        let (token_review, access_review) = server.await.unwrap();
        assert_eq!(token_review["spec"]["token"], "sa-token");
        assert_eq!(token_review["spec"]["audiences"], json!(["flink-monitor"]));
        assert_eq!(access_review["spec"]["user"], "alice");
        assert_eq!(access_review["spec"]["groups"], json!(["team-a"]));
        assert_eq!(
            access_review["spec"]["resourceAttributes"],
            json!({"group": "flinkmonitor.dev", "resource": "flinkjobs", "subresource": "stop", "verb": "update", "namespace": "team-a"})
        );
    }

    #[tokio::test]
    async fn a_user_rbac_denies_gets_403() {
        let (guard, api) = guard();
        let server = alice_reviewed(api, false);
        let caller = guard.authenticate(&bearer("sa-token")).await.unwrap();
        let denied = guard
            .authorize(&caller, BTreeSet::from([Some("team-b".into())]))
            .await
            .unwrap_err();
        assert_eq!((denied.status.as_u16(), denied.code), (403, 4010));
        assert!(
            denied.errors[0].contains("alice") && denied.errors[0].contains("team-b"),
            "{:?}",
            denied.errors
        );
        server.await.unwrap();
    }

    /// A token review that names no user refuses the stop: 401 when the token is not
    /// good for us, 500 when the review itself failed.
    #[tokio::test]
    async fn a_token_review_without_a_user_refuses_the_stop() {
        /// The case, how the review is answered, the refusal, and what its error says.
        type Case = (
            &'static str,
            u16,
            fn(Value) -> Value,
            (u16, u16),
            &'static str,
        );
        let cases: [Case; 3] = [
            // An authenticator that ignores audiences answers none of ours.
            (
                "another audience",
                201,
                |mut r| {
                    r["status"] = json!({"authenticated": true, "audiences": ["https://kubernetes.default.svc"], "user": {"username": "alice"}});
                    r
                },
                (401, 4010),
                "flink-monitor",
            ),
            (
                "rejected",
                201,
                |mut r| {
                    r["status"] = json!({"authenticated": false, "error": "token expired"});
                    r
                },
                (401, 4010),
                "token expired",
            ),
            (
                "failed",
                500,
                |_| json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "message": "etcd down", "code": 500}),
                (500, 5000),
                "TokenReview",
            ),
        ];
        for (case, status, review, refused, says) in cases {
            let (guard, mut api) = guard();
            let server =
                tokio::spawn(async move { answer(&mut api, TOKEN_REVIEWS, status, review).await });
            let error = guard.authenticate(&bearer("a-token")).await.unwrap_err();
            assert_eq!((error.status.as_u16(), error.code), refused, "{case}");
            assert!(error.errors[0].contains(says), "{case}: {:?}", error.errors);
            server.await.unwrap();
        }
    }

    #[tokio::test]
    async fn no_token_is_401_without_asking_the_api_server() {
        let (guard, mut api) = guard();
        let missing = guard.authenticate(&HeaderMap::new()).await.unwrap_err();
        assert_eq!((missing.status.as_u16(), missing.code), (401, 4010));
        let asked =
            tokio::time::timeout(std::time::Duration::from_millis(100), api.next_request()).await;
        assert!(asked.is_err(), "no review may be made without a token");
    }
}
