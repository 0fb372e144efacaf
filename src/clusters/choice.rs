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

    /// A job of `/jobs/overview`, written `<jid> <state> <start-time>`.
    fn job(spec: &str) -> JobOverview {
        let [jid, state, start] = spec.split(' ').collect::<Vec<_>>()[..] else {
            panic!("not `<jid> <state> <start-time>`: {spec}");
        };
        let start: i64 = start.parse().unwrap();
        serde_json::from_value(serde_json::json!({
            "jid": jid, "name": "n", "state": state, "start-time": start
        }))
        .unwrap()
    }

    #[test]
    fn live_jobs_win_then_the_newest_then_the_greater_jid() {
        // (the candidates, the jid chosen)
        let cases: [(&[&str], &str); 4] = [
            // A running job wins over a newer cancelled one.
            (&["a CANCELED 200", "b RUNNING 100"], "b"),
            // Among terminal jobs the newest wins.
            (&["a FAILED 100", "b FINISHED 300", "c CANCELED 200"], "b"),
            // Among live jobs the newest wins, and non-terminal states all count as live.
            (
                &["a RESTARTING 100", "b INITIALIZING 150", "c FINISHED 900"],
                "b",
            ),
            // Ties go to the greater jid.
            (
                &["aa RUNNING 100", "ff RUNNING 100", "cc RUNNING 100"],
                "ff",
            ),
        ];
        for (candidates, chosen) in cases {
            let jobs: Vec<JobOverview> = candidates.iter().copied().map(job).collect();
            assert_eq!(choose(&jobs).unwrap().jid, chosen, "{candidates:?}");
        }
    }

    #[test]
    fn no_candidates_no_choice() {
        assert!(choose(&[] as &[JobOverview]).is_none());
    }
}
