//! Stop: who may ask (`guard`, with the Kubernetes reviews in `review`) and how (`query`).

mod guard;
mod query;
mod review;

pub use guard::{StopGuard, bearer_token};
pub use query::{StopMode, parse_stop_query};
pub use review::{DEFAULT_AUDIENCE, KubernetesReviewer};
