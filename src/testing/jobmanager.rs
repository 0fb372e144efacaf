//! A scripted JobManager for unit tests: plain HTTP/1.1 on kept connections, every request
//! answered `200` with the body the test's function gives for the request's head.

use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Serves on a free local port until the test's runtime ends. `answer` sees each request's
/// head (request line and headers) and returns the body to send.
pub async fn scripted(answer: impl Fn(&str) -> String + Send + Sync + 'static) -> url::Url {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind a local port");
    let url = format!(
        "http://{}",
        listener.local_addr().expect("the local address")
    );
    let answer = Arc::new(answer);
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let answer = answer.clone();
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while socket.read(&mut byte).await.unwrap_or(0) == 1 {
                    head.push(byte[0]);
                    if !head.ends_with(b"\r\n\r\n") {
                        continue;
                    }
                    let body = answer(&String::from_utf8_lossy(&head));
                    head.clear();
                    let response = format!(
                        "HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n{body}",
                        body.len()
                    );
                    if socket.write_all(response.as_bytes()).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    url.parse().expect("a URL")
}
