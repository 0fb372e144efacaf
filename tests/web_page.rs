//! The web page as the binary serves it: `runtime.rs` merges the page's router into the
//! API's app, with the redirect of browsers at `/`, unless `--ui false`. (The page itself is
//! tested in a real browser by tests/ui/, run by scripts/ui-test.sh.)

mod support;

use reqwest::StatusCode;
use reqwest::header::{ACCEPT, CONTENT_SECURITY_POLICY, CONTENT_TYPE, LOCATION};
use support::monitor_binary::MonitorBinary;

const BROWSER_ACCEPT: &str = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";

async fn monitor(extra: &[&str], log: &str) -> MonitorBinary {
    let log = std::env::temp_dir().join(format!("web-page-{log}-{}.log", std::process::id()));
    let extra: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
    MonitorBinary::start_up(
        "web_page",
        &log,
        "info",
        &[],
        "/readyz",
        "web page",
        |port| {
            let mut args: Vec<String> = [
                "run",
                "--kubernetes",
                "off",
                "--listen",
                &format!("127.0.0.1:{port}"),
            ]
            .iter()
            .map(|s| s.to_string())
            .collect();
            args.extend(extra.iter().cloned());
            args
        },
    )
    .await
}

/// `GET url` as a browser asks (HTML first).
async fn as_browser(http: &reqwest::Client, url: &str) -> reqwest::Response {
    http.get(url)
        .header(ACCEPT, BROWSER_ACCEPT)
        .send()
        .await
        .unwrap()
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

#[tokio::test]
async fn the_binary_serves_the_page_and_sends_browsers_there() {
    let monitor = monitor(&[], "on").await;
    let http = client();
    let page = http
        .get(format!("{}/ui/", monitor.base))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    assert_eq!(page.headers()[CONTENT_TYPE], "text/html; charset=utf-8");
    assert!(
        page.headers()[CONTENT_SECURITY_POLICY]
            .to_str()
            .unwrap()
            .starts_with("default-src 'self'")
    );
    let browser = as_browser(&http, &monitor.base).await;
    assert_eq!(browser.status(), StatusCode::SEE_OTHER);
    assert_eq!(browser.headers()[LOCATION], "/ui/");
    // API clients at the root and the API's paths are as before.
    let client_at_root = http.get(&monitor.base).send().await.unwrap();
    assert_eq!(client_at_root.status(), StatusCode::NOT_FOUND);
    let body: serde_json::Value = client_at_root.json().await.unwrap();
    assert_eq!(body["errorCode"], 4004);
    let overview = as_browser(&http, &format!("{}/jobs/overview/", monitor.base)).await;
    assert_eq!(overview.status(), StatusCode::OK);
    let jobs = support::http::get_json(&http, &format!("{}/ui/api/jobs", monitor.base)).await;
    assert_eq!(jobs["response"]["clusters"], serde_json::json!([]));
}

#[tokio::test]
async fn ui_false_leaves_only_the_api() {
    let monitor = monitor(&["--ui", "false"], "off").await;
    let http = client();
    for path in ["/ui/", "/ui/api/jobs"] {
        let answer = http
            .get(format!("{}{path}", monitor.base))
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), StatusCode::NOT_FOUND, "{path}");
        let body: serde_json::Value = answer.json().await.unwrap();
        assert_eq!(body["errorCode"], 4004, "{path}");
    }
    let browser = as_browser(&http, &monitor.base).await;
    assert_eq!(browser.status(), StatusCode::NOT_FOUND, "no redirect");
}
