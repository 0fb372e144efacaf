//! Flink's job states (`org.apache.flink.api.common.JobStatus`), the one list the API,
//! the metrics and the controller read them from.

/// Every state a Flink job can be in, as the REST API spells them.
pub const JOB_STATES: &[&str] = &[
    "INITIALIZING",
    "CREATED",
    "RUNNING",
    "FAILING",
    "FAILED",
    "CANCELLING",
    "CANCELED",
    "FINISHED",
    "RESTARTING",
    "SUSPENDED",
    "RECONCILING",
];

/// Flink's job states that end a job for good (`JobStatus#isGloballyTerminalState`).
pub fn is_globally_terminal(state: &str) -> bool {
    matches!(state, "FINISHED" | "FAILED" | "CANCELED")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_globally_terminal_states_are_job_states() {
        let terminal: Vec<_> = JOB_STATES
            .iter()
            .filter(|state| is_globally_terminal(state))
            .collect();
        assert_eq!(terminal, [&"FAILED", &"CANCELED", &"FINISHED"]);
        assert!(!is_globally_terminal("RUNNING"));
        assert!(!is_globally_terminal("SUSPENDED"));
    }
}
