//! The monitoring API of the real `flink-monitor` binary against real Flink clusters,
//! 2.3.0 and 1.20.5, started with `scripts/local-flink.sh` (Java 17 and PyPI's
//! `apache-flink-libraries`; the first run downloads them into `~/.cache/local-flink`).
//!
//! Every scenario runs once per version. Each version has one shared session cluster for
//! this test binary, started by the first test that needs it and stopped when the binary
//! exits; the JobManager-outage scenario starts its own small cluster. Each test starts
//! its own `flink-monitor` with `--poll-interval 1s` and submits jobs under names no other
//! test uses. Waits poll with a deadline and fail with the last answer, the monitor's log
//! and the Flink log directory. See `support/local_flink.rs` for ports and clean-up.

mod support;
use support::local_flink;
#[path = "real_flink/monitor.rs"]
mod monitor;
#[path = "real_flink/scenarios.rs"]
mod scenarios;

/// One module per Flink version with one test per scenario.
macro_rules! scenarios_for {
    ($($module:ident => $version:literal),+ $(,)?) => {$(
        mod $module {
            use std::sync::OnceLock;

            use super::local_flink::{self, LocalFlink};
            use super::scenarios;

            const VERSION: &str = $version;

            fn flink() -> &'static LocalFlink {
                static SHARED: OnceLock<Result<LocalFlink, String>> = OnceLock::new();
                local_flink::shared(&SHARED, VERSION)
            }

            #[tokio::test]
            async fn a_running_job_has_status_and_growing_metrics() {
                scenarios::running_job(flink()).await;
            }

            #[tokio::test]
            async fn a_finished_job_has_final_counts() {
                scenarios::finished_job(flink()).await;
            }

            #[tokio::test]
            async fn a_failed_job_has_its_root_exception() {
                scenarios::failed_job(flink()).await;
            }

            #[tokio::test]
            async fn a_cancelled_job_shows_canceled() {
                scenarios::cancelled_job(flink()).await;
            }

            #[tokio::test]
            async fn of_two_jobs_with_one_name_the_running_one_is_chosen() {
                scenarios::duplicate_names(flink()).await;
            }

            #[tokio::test]
            async fn a_name_with_spaces_and_non_ascii_characters_is_found() {
                scenarios::unicode_name(flink()).await;
            }

            #[tokio::test]
            async fn an_unknown_uuid_is_4006() {
                scenarios::unknown_uuid(flink()).await;
            }

            #[tokio::test]
            async fn an_unknown_cluster_is_4009() {
                scenarios::unknown_cluster(flink()).await;
            }

            #[tokio::test]
            async fn a_killed_jobmanager_is_5005_until_it_comes_back() {
                scenarios::killed_jobmanager(VERSION).await;
            }

            #[tokio::test]
            async fn stop_cancels_the_job_when_enabled() {
                scenarios::stop_cancels(flink()).await;
            }

            #[tokio::test]
            async fn stop_with_a_savepoint_finishes_the_job() {
                scenarios::stop_with_savepoint(flink()).await;
            }

            #[tokio::test]
            async fn stop_is_refused_unless_enabled() {
                scenarios::stop_disabled(flink()).await;
            }

            #[tokio::test]
            async fn jobs_overview_at_the_root_lists_jobs_with_their_cluster() {
                scenarios::overview_at_the_root(flink()).await;
            }

            #[tokio::test]
            async fn a_running_job_is_healthy_with_its_checkpoint_interval() {
                scenarios::healthy_job(flink()).await;
            }

            #[tokio::test]
            async fn a_restart_loop_is_degraded_restarting() {
                scenarios::restarting_job(flink()).await;
            }

            #[tokio::test]
            async fn checkpoints_that_never_complete_are_degraded_stalled() {
                scenarios::stalled_job(flink()).await;
            }

            #[tokio::test]
            async fn clusters_shows_the_flink_version() {
                scenarios::clusters(flink()).await;
            }
        }
    )+};
}

scenarios_for! {
    flink_2_3_0 => "2.3.0",
    flink_1_20_5 => "1.20.5",
}
