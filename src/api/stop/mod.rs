//! Stop: who may ask (`guard`, with the Kubernetes reviews in `review`), how (`query`),
//! and the endpoint itself (`handle`).

mod guard;
pub(super) mod handle;
mod query;
mod review;

pub use guard::{StopGuard, bearer_token};
pub use review::{DEFAULT_AUDIENCE, KubernetesReviewer};
