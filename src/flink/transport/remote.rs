//! TLS and proxied JobManagers through reqwest, under the same policy as plain HTTP: no
//! redirect followed, the same connect timeout, the answer read under the same limit.

use bytes::{Bytes, BytesMut};
use reqwest::{Method, Url};

use super::policy::{self, Answer, CONNECT_TIMEOUT, TransportError};

/// The one reqwest client every TLS or proxied call goes through, shared by all clusters
/// (one connection pool, one TLS configuration). Built here and only here.
pub fn http_client() -> Result<reqwest::Client, reqwest::Error> {
    http_client_builder().build()
}

/// The settings of [`http_client`], for `tls` to add the CA and client certificate to.
pub fn http_client_builder() -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .user_agent(crate::USER_AGENT)
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(CONNECT_TIMEOUT)
        .pool_idle_timeout(std::time::Duration::from_secs(90))
        // Only TLS and proxied calls come here: one idle connection per host is plenty.
        .pool_max_idle_per_host(1)
}

/// `method url` with a JSON `body` if given; the body read whole, at most `limit` bytes.
pub async fn send(
    http: &reqwest::Client,
    method: Method,
    url: Url,
    body: Option<Bytes>,
    limit: usize,
) -> Result<Answer, TransportError> {
    let mut request = http
        .request(method, url)
        .header(http::header::ACCEPT, "application/json");
    if let Some(body) = body {
        request = request
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(body);
    }
    let mut response = request.send().await.map_err(transport_error)?;
    if policy::declared_too_large(response.headers(), limit) {
        return Err(TransportError::TooLarge);
    }
    let mut buf = BytesMut::new();
    while let Some(chunk) = response.chunk().await.map_err(transport_error)? {
        if buf.len() + chunk.len() > limit {
            return Err(TransportError::TooLarge);
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(Answer::new(
        response.status().as_u16(),
        response.headers(),
        buf.freeze(),
    ))
}

fn transport_error(error: reqwest::Error) -> TransportError {
    let connect = error.is_connect();
    let reason = policy::error_chain(&error.without_url());
    if connect {
        TransportError::Connect(reason)
    } else {
        TransportError::Broken(reason)
    }
}
