//! A job's details as fetched from Flink, with what the API serves from them rendered
//! once per fetch: every request within the cache TTL copies the same bytes instead of
//! cloning and serializing the vertices again.

use std::ops::Deref;
use std::sync::OnceLock;

use serde_json::value::RawValue;

use crate::flink::dto::JobDetails;

#[derive(Debug)]
pub struct FetchedDetails {
    details: JobDetails,
    vertices: OnceLock<Box<RawValue>>,
}

impl FetchedDetails {
    pub fn new(details: JobDetails) -> Self {
        Self {
            details,
            vertices: OnceLock::new(),
        }
    }

    /// The vertices as the API answers them; `render` runs once, for the first caller.
    pub fn rendered_vertices(
        &self,
        render: impl FnOnce(&JobDetails) -> Box<RawValue>,
    ) -> &RawValue {
        self.vertices.get_or_init(|| render(&self.details))
    }
}

impl Deref for FetchedDetails {
    type Target = JobDetails;

    fn deref(&self) -> &JobDetails {
        &self.details
    }
}
