//! The only code that talks to Flink: a REST client over one transport policy and
//! tolerant DTOs for Flink 1.x and 2.x.

mod client;
pub mod dto;
mod error;
mod job_state;
mod root_exception;
mod task_counts;
mod tls;
mod transport;

pub use client::{ClientSettings, FlinkClient, StopRequest};
pub use error::FlinkError;
pub use job_state::{JOB_STATES, is_globally_terminal};
pub use root_exception::RootException;
pub use tls::{HttpsClient, RELOAD_EVERY as TLS_RELOAD_EVERY, TlsError, TlsFiles, TlsReloader};
