//! Which of Flink's exceptions a client is shown: the root exception of Flink 1.x, else
//! the newest entry of Flink 2.x's exception history.

use super::dto::JobExceptions;

/// The one exception a client is shown (the API answers it as the contract's
/// `root-exception` object).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RootException {
    pub root_exception: Option<String>,
    pub timestamp: Option<i64>,
    pub truncated: bool,
}

impl JobExceptions {
    /// Flink 1.x's `root-exception` when present; otherwise (Flink 2.x) the newest entry of
    /// the exception history. A job that never failed has none, which is not an error.
    pub fn root(&self) -> RootException {
        if let Some(text) = &self.root_exception {
            return RootException {
                root_exception: Some(text.clone()),
                timestamp: self.timestamp,
                truncated: self.truncated.unwrap_or(false),
            };
        }
        let Some(history) = &self.exception_history else {
            return RootException::default();
        };
        let newest = history
            .entries
            .iter()
            .filter(|entry| entry.stacktrace.is_some())
            .max_by_key(|entry| entry.timestamp.unwrap_or(i64::MIN));
        match newest {
            Some(entry) => RootException {
                root_exception: entry.stacktrace.clone(),
                timestamp: entry.timestamp,
                truncated: history.truncated.unwrap_or(false),
            },
            None => RootException::default(),
        }
    }
}
