//! Plain HTTP requests of the tests.

/// `GET url`, its body as JSON; panics naming the URL when nothing answers or the body is
/// not JSON.
pub async fn get_json(http: &reqwest::Client, url: &str) -> serde_json::Value {
    let response = http
        .get(url)
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {url}: {e}"));
    response
        .json()
        .await
        .unwrap_or_else(|e| panic!("GET {url}: the body is not JSON: {e}"))
}
