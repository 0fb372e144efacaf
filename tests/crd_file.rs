//! The committed CRD files must be what the code generates (regenerate with
//! `cargo run -- crd > crds/flinkjobs.flinkmonitor.dev.yaml` and copy it to the chart).

use std::path::Path;

const COPIES: &[&str] = &[
    "crds/flinkjobs.flinkmonitor.dev.yaml",
    "charts/flink-monitor/crds/flinkjobs.flinkmonitor.dev.yaml",
];

#[test]
fn committed_crd_files_match_the_code() {
    let generated = flink_monitor::crd::crd_yaml().expect("render the CRD");
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut checked = 0;
    for copy in COPIES {
        let path = root.join(copy);
        if !path.exists()
            && copy.starts_with("charts/")
            && !root.join("charts/flink-monitor").exists()
        {
            continue; // the chart is not in this tree yet
        }
        let committed =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {copy}: {e}"));
        assert!(
            committed == generated,
            "{copy} differs from the code; run: cargo run -- crd > {copy}"
        );
        checked += 1;
    }
    assert!(checked >= 1, "no CRD file checked");
}
