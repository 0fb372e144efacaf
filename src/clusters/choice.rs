//! The contract's rule for one name matching several Flink jobs.

use crate::flink::dto::JobOverview;
use crate::flink::is_globally_terminal;

/// Prefer jobs that are not globally terminal; among those (or among all, if every one is
/// terminal) the newest `start-time`; ties broken by the greater `jid`.
pub fn choose<'a>(
    candidates: impl IntoIterator<Item = &'a JobOverview>,
) -> Option<&'a JobOverview> {
    candidates.into_iter().max_by(|a, b| rank(a).cmp(&rank(b)))
}

fn rank(job: &JobOverview) -> (bool, i64, &str) {
    (
        !is_globally_terminal(job.state()),
        job.start_time.unwrap_or(i64::MIN),
        job.jid.as_str(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(jid: &str, state: &str, start: i64) -> JobOverview {
        serde_json::from_value(serde_json::json!({
            "jid": jid, "name": "n", "state": state, "start-time": start
        }))
        .unwrap()
    }

    #[test]
    fn a_running_job_wins_over_a_newer_cancelled_one() {
        let jobs = [job("a", "CANCELED", 200), job("b", "RUNNING", 100)];
        assert_eq!(choose(&jobs).unwrap().jid, "b");
    }

    #[test]
    fn among_terminal_jobs_the_newest_wins() {
        let jobs = [
            job("a", "FAILED", 100),
            job("b", "FINISHED", 300),
            job("c", "CANCELED", 200),
        ];
        assert_eq!(choose(&jobs).unwrap().jid, "b");
    }

    #[test]
    fn among_live_jobs_the_newest_wins_and_non_terminal_states_all_count_as_live() {
        let jobs = [
            job("a", "RESTARTING", 100),
            job("b", "INITIALIZING", 150),
            job("c", "FINISHED", 900),
        ];
        assert_eq!(choose(&jobs).unwrap().jid, "b");
    }

    #[test]
    fn ties_go_to_the_greater_jid() {
        let jobs = [
            job("aa", "RUNNING", 100),
            job("ff", "RUNNING", 100),
            job("cc", "RUNNING", 100),
        ];
        assert_eq!(choose(&jobs).unwrap().jid, "ff");
    }

    #[test]
    fn no_candidates_no_choice() {
        assert!(choose(&[] as &[JobOverview]).is_none());
    }
}
