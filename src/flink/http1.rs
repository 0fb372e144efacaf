//! A lean HTTP/1.1 client for the plain-HTTP `GET`s to one JobManager: the poller's and the
//! health checks' calls, a few hundred a second at 1,000 clusters.
//!
//! Why not reqwest or hyper for these: an idle keep-alive connection inside hyper keeps two
//! 8 KB buffers and one or two 9 KB request-channel blocks (about 25-35 KB), for every
//! JobManager, all the time; neither has a setting for it. Here an idle connection is the
//! bare socket, and a request's buffers live only while it runs. TLS, proxies and requests
//! with a body stay with reqwest (see [`Origin::for_base`]).

use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::Duration;

use base64::Engine;
use bytes::Bytes;
use reqwest::Url;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use url::Host;

/// How long a connection may take to open (as reqwest's `connect_timeout`).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// A response head larger than this is not a JobManager's.
const MAX_HEAD_BYTES: usize = 64 * 1024;
const MAX_HEADERS: usize = 64;
/// What a read asks the kernel for when the size of the rest is not known.
const READ_CHUNK: usize = 8 * 1024;

/// Why a request failed; the caller adds the URL.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Http1Error {
    #[error("{0}")]
    Connect(String),
    #[error("{0}")]
    Broken(String),
    #[error("the answer is larger than the limit")]
    TooLarge,
}

/// A status and a whole body.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub body: Bytes,
}

/// One JobManager's address and its one idle connection.
pub struct Origin {
    target: Target,
    /// The header lines every request carries (Host, User-Agent, Accept, Authorization).
    headers: Box<str>,
    idle: Mutex<Option<TcpStream>>,
}

enum Target {
    Name(String, u16),
    Addr(SocketAddr),
}

/// How an exchange on a connection ended when it did not give an answer.
enum Failure {
    /// The connection was closed before a byte of the answer came: a keep-alive connection
    /// the server closed while it was idle. A `GET` is safe to send again.
    Stale,
    Failed(Http1Error),
}

impl From<Http1Error> for Failure {
    fn from(error: Http1Error) -> Self {
        Self::Failed(error)
    }
}

/// How the body of an answer ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    Length(usize),
    Chunked,
    UntilClose,
}

/// What the head of an answer says.
struct Head {
    status: u16,
    len: usize,
    framing: Framing,
    keep_alive: bool,
}

impl Origin {
    /// The origin of `base` if this client can serve it: `http://` without a proxy in the
    /// environment (reqwest honours `HTTP_PROXY` and `ALL_PROXY`; so do we, by leaving
    /// such set-ups to it).
    pub fn for_base(base: &Url, user_agent: &str) -> Option<Self> {
        if base.scheme() != "http" || proxy_configured() {
            return None;
        }
        let port = base.port_or_known_default()?;
        let target = match base.host()? {
            Host::Domain(name) => Target::Name(name.to_string(), port),
            Host::Ipv4(ip) => Target::Addr(SocketAddr::from((ip, port))),
            Host::Ipv6(ip) => Target::Addr(SocketAddr::from((ip, port))),
        };
        let host = base.host_str()?;
        let mut headers = match base.port() {
            Some(port) => format!("Host: {host}:{port}\r\n"),
            None => format!("Host: {host}\r\n"),
        };
        headers.push_str(&format!(
            "User-Agent: {user_agent}\r\nAccept: application/json\r\n"
        ));
        if let Some(credentials) = basic_credentials(base) {
            headers.push_str(&format!("Authorization: Basic {credentials}\r\n"));
        }
        Some(Self {
            target,
            headers: headers.into(),
            idle: Mutex::new(None),
        })
    }

    /// `GET path_and_query`, the body at most `limit` bytes. Uses the idle connection if
    /// there is one (and a new one, once, if the server had closed it) and keeps the
    /// connection for the next request when the answer allows. A request that is dropped
    /// half-way (a timeout) drops its connection with it: a socket is idle only between
    /// whole exchanges.
    pub async fn get(&self, path_and_query: &str, limit: usize) -> Result<Answer, Http1Error> {
        let request = format!("GET {path_and_query} HTTP/1.1\r\n{}\r\n", self.headers);
        if let Some(mut stream) = self.take_idle() {
            match exchange(&mut stream, request.as_bytes(), limit).await {
                Ok((answer, reusable)) => return Ok(self.keep(stream, reusable, answer)),
                Err(Failure::Failed(error)) => return Err(error),
                Err(Failure::Stale) => {}
            }
        }
        let mut stream = self.connect().await?;
        match exchange(&mut stream, request.as_bytes(), limit).await {
            Ok((answer, reusable)) => Ok(self.keep(stream, reusable, answer)),
            Err(Failure::Failed(error)) => Err(error),
            Err(Failure::Stale) => Err(Http1Error::Broken(
                "the connection was closed before an answer came".into(),
            )),
        }
    }

    fn take_idle(&self) -> Option<TcpStream> {
        self.idle.lock().ok()?.take()
    }

    /// Keeps `stream` as the idle connection unless one is kept already (two requests that
    /// overlapped): one idle connection per JobManager is enough.
    fn keep(&self, stream: TcpStream, reusable: bool, answer: Answer) -> Answer {
        if reusable && let Ok(mut idle) = self.idle.lock() {
            idle.get_or_insert(stream);
        }
        answer
    }

    async fn connect(&self) -> Result<TcpStream, Http1Error> {
        let attempt = async {
            match &self.target {
                Target::Addr(addr) => TcpStream::connect(addr).await,
                Target::Name(name, port) => TcpStream::connect((name.as_str(), *port)).await,
            }
        };
        let stream = match tokio::time::timeout(CONNECT_TIMEOUT, attempt).await {
            Ok(Ok(stream)) => stream,
            Ok(Err(error)) => return Err(Http1Error::Connect(error.to_string())),
            Err(_) => {
                return Err(Http1Error::Connect(format!(
                    "no connection within {CONNECT_TIMEOUT:?}"
                )));
            }
        };
        // A request is one write; waiting for more to send would only delay it.
        let _ = stream.set_nodelay(true);
        Ok(stream)
    }
}

fn proxy_configured() -> bool {
    ["HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"]
        .iter()
        .any(|name| std::env::var_os(name).is_some_and(|v| !v.is_empty()))
}

/// `user:password` of the URL, percent-decoded and base64-encoded, as reqwest sends them.
fn basic_credentials(base: &Url) -> Option<String> {
    if base.username().is_empty() && base.password().is_none() {
        return None;
    }
    let decode = |s: &str| {
        percent_encoding::percent_decode_str(s)
            .decode_utf8_lossy()
            .into_owned()
    };
    let pair = format!(
        "{}:{}",
        decode(base.username()),
        decode(base.password().unwrap_or(""))
    );
    Some(base64::engine::general_purpose::STANDARD.encode(pair))
}

/// Sends `request` and reads the whole answer; `true` with it when the connection can
/// carry another request.
async fn exchange(
    stream: &mut TcpStream,
    request: &[u8],
    limit: usize,
) -> Result<(Answer, bool), Failure> {
    if stream.write_all(request).await.is_err() {
        return Err(Failure::Stale);
    }
    let mut buf = Vec::with_capacity(READ_CHUNK);
    let head = loop {
        let read = match read_more(stream, &mut buf).await {
            Ok(read) => read,
            Err(_) if buf.is_empty() => return Err(Failure::Stale),
            Err(error) => return Err(error.into()),
        };
        if read == 0 {
            return Err(if buf.is_empty() {
                Failure::Stale
            } else {
                broken("the connection was closed in the middle of the answer's head").into()
            });
        }
        if let Some(head) = parse_head(&mut buf)? {
            break head;
        }
    };
    let (body, complete) = match head.framing {
        Framing::Length(len) => read_length(stream, buf, head.len, len, limit).await?,
        Framing::Chunked => read_chunked(stream, buf, head.len, limit).await?,
        Framing::UntilClose => (read_until_close(stream, buf, head.len, limit).await?, false),
    };
    let answer = Answer {
        status: head.status,
        body,
    };
    Ok((answer, head.keep_alive && complete))
}

fn broken(reason: impl Into<String>) -> Http1Error {
    Http1Error::Broken(reason.into())
}

/// Reads what the socket has into the spare room of `buf`; 0 at the end of the stream.
async fn read_more(stream: &mut TcpStream, buf: &mut Vec<u8>) -> Result<usize, Http1Error> {
    if buf.capacity() - buf.len() < READ_CHUNK / 4 {
        buf.reserve(READ_CHUNK);
    }
    stream
        .read_buf(buf)
        .await
        .map_err(|error| broken(format!("reading the answer failed: {error}")))
}

/// The head, once `buf` holds all of it; informational (1xx) heads are dropped from `buf`.
fn parse_head(buf: &mut Vec<u8>) -> Result<Option<Head>, Http1Error> {
    loop {
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut response = httparse::Response::new(&mut headers);
        let len = match response.parse(buf) {
            Ok(httparse::Status::Complete(len)) => len,
            Ok(httparse::Status::Partial) if buf.len() > MAX_HEAD_BYTES => {
                return Err(broken(format!(
                    "the answer's head is larger than {MAX_HEAD_BYTES} bytes"
                )));
            }
            Ok(httparse::Status::Partial) => return Ok(None),
            Err(error) => return Err(broken(format!("not an HTTP answer: {error}"))),
        };
        let status = response.code.unwrap_or_default();
        if (100..200).contains(&status) {
            buf.drain(..len);
            continue;
        }
        // Header values compared in place: no allocation per answer on the hot path.
        let header = |name: &str| {
            response
                .headers
                .iter()
                .find(|h| h.name.eq_ignore_ascii_case(name))
                .map(|h| h.value.trim_ascii())
        };
        let is = |value: Option<&[u8]>, wanted: &str| {
            value.is_some_and(|v| v.eq_ignore_ascii_case(wanted.as_bytes()))
        };
        let connection = header("connection");
        let keep_alive = match response.version {
            Some(1) => !is(connection, "close"),
            _ => is(connection, "keep-alive"),
        };
        let chunked = header("transfer-encoding").is_some_and(|te| {
            te.len() >= b"chunked".len()
                && te[te.len() - b"chunked".len()..].eq_ignore_ascii_case(b"chunked")
        });
        let framing = if status == 204 || status == 304 {
            Framing::Length(0)
        } else if chunked {
            Framing::Chunked
        } else if let Some(length) = header("content-length") {
            let length = std::str::from_utf8(length)
                .ok()
                .and_then(|text| text.parse().ok())
                .ok_or_else(|| {
                    let shown = String::from_utf8_lossy(length).to_ascii_lowercase();
                    broken(format!(
                        "the answer's content-length {shown:?} is not a number"
                    ))
                })?;
            Framing::Length(length)
        } else {
            Framing::UntilClose
        };
        return Ok(Some(Head {
            status,
            len,
            framing,
            keep_alive,
        }));
    }
}

/// A body of `len` bytes after a head of `head` bytes; complete unless more came.
async fn read_length(
    stream: &mut TcpStream,
    mut buf: Vec<u8>,
    head: usize,
    len: usize,
    limit: usize,
) -> Result<(Bytes, bool), Http1Error> {
    if len > limit {
        return Err(Http1Error::TooLarge);
    }
    let end = head + len;
    buf.reserve_exact(end.saturating_sub(buf.len()));
    while buf.len() < end {
        if read_more(stream, &mut buf).await? == 0 {
            return Err(broken(format!(
                "the connection was closed after {} of {len} bytes of the body",
                buf.len() - head
            )));
        }
    }
    let exact = buf.len() == end;
    Ok((Bytes::from(buf).slice(head..end), exact))
}

/// A body to the end of the stream (an HTTP/1.0 answer without a length).
async fn read_until_close(
    stream: &mut TcpStream,
    mut buf: Vec<u8>,
    head: usize,
    limit: usize,
) -> Result<Bytes, Http1Error> {
    loop {
        if buf.len() - head > limit {
            return Err(Http1Error::TooLarge);
        }
        if read_more(stream, &mut buf).await? == 0 {
            return Ok(Bytes::from(buf).slice(head..));
        }
    }
}

/// A chunked body, decoded; complete when nothing came after its last chunk.
async fn read_chunked(
    stream: &mut TcpStream,
    mut buf: Vec<u8>,
    head: usize,
    limit: usize,
) -> Result<(Bytes, bool), Http1Error> {
    let mut body = Vec::new();
    let mut pos = head;
    loop {
        match chunk_step(&buf[pos..], &mut body, limit)? {
            Some(Step::Consumed(used)) => pos += used,
            Some(Step::Done(used)) => return Ok((body.into(), pos + used == buf.len())),
            None => {
                buf.drain(..pos);
                pos = 0;
                if read_more(stream, &mut buf).await? == 0 {
                    return Err(broken(
                        "the connection was closed in the middle of a chunked body",
                    ));
                }
            }
        }
    }
}

enum Step {
    /// A chunk was appended to the body; so many bytes of the input were used.
    Consumed(usize),
    /// The last chunk and the trailers ended the body; so many bytes were used.
    Done(usize),
}

/// One step of chunked decoding over `input`; None when it needs more input.
fn chunk_step(input: &[u8], body: &mut Vec<u8>, limit: usize) -> Result<Option<Step>, Http1Error> {
    let (size_len, size) = match httparse::parse_chunk_size(input) {
        Ok(httparse::Status::Complete(found)) => found,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(_) => return Err(broken("the answer's chunked body is malformed")),
    };
    let rest = &input[size_len..];
    if size == 0 {
        // Trailers, each a line, end with an empty line.
        let mut used = size_len;
        let mut lines = rest;
        loop {
            let Some(end) = lines.windows(2).position(|w| w == b"\r\n") else {
                return Ok(None);
            };
            used += end + 2;
            if end == 0 {
                return Ok(Some(Step::Done(used)));
            }
            lines = &lines[end + 2..];
        }
    }
    let size = usize::try_from(size).map_err(|_| Http1Error::TooLarge)?;
    if body.len().saturating_add(size) > limit {
        return Err(Http1Error::TooLarge);
    }
    if rest.len() < size + 2 {
        return Ok(None);
    }
    if &rest[size..size + 2] != b"\r\n" {
        return Err(broken("the answer's chunked body is malformed"));
    }
    body.extend_from_slice(&rest[..size]);
    Ok(Some(Step::Consumed(size_len + size + 2)))
}

#[cfg(test)]
#[path = "http1_tests.rs"]
mod tests;
