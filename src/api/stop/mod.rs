//! Stop: who may ask (`guard`, with the Kubernetes reviews in `review`), how (`query`),
//! and the endpoint itself (`handle`).

mod guard;
mod handle;
mod query;
mod review;

pub use guard::{StopGuard, bearer_token};
pub(super) use handle::handle;
pub use review::{DEFAULT_AUDIENCE, KubernetesReviewer};
