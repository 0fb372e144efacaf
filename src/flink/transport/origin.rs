//! One JobManager reached over plain HTTP: its address, the headers every request carries,
//! and its one idle connection, kept as the bare socket between calls (no buffers, no
//! task): at 1,000 JobManagers an idle hyper connection each would cost 25-35 KB apiece.

use std::mem::MaybeUninit;
use std::net::SocketAddr;
use std::sync::Mutex;

use base64::Engine;
use bytes::Bytes;
use http::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HOST, USER_AGENT};
use http::{HeaderValue, Method, Request, Uri};
use http_body_util::Full;
use reqwest::Url;
use tokio::net::TcpStream;
use url::Host;

use super::exchange::{Failure, exchange};
use super::policy::{Answer, CONNECT_TIMEOUT, TransportError};

pub struct Origin {
    target: Target,
    host: HeaderValue,
    authorization: Option<HeaderValue>,
    idle: Mutex<Option<TcpStream>>,
}

enum Target {
    Name(String, u16),
    Addr(SocketAddr),
}

impl Origin {
    /// The origin of `base` if it is served here: `http://` without a proxy in the
    /// environment. reqwest honours `HTTP_PROXY` and `ALL_PROXY`, so proxied set-ups and
    /// TLS are left to it (under the same policy).
    pub fn for_base(base: &Url) -> Option<Self> {
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
        let host = match base.port() {
            Some(port) => format!("{host}:{port}"),
            None => host.to_string(),
        };
        Some(Self {
            target,
            host: HeaderValue::try_from(host).ok()?,
            authorization: basic_credentials(base),
            idle: Mutex::new(None),
        })
    }

    /// `method target`, with a JSON `body` if given; the answer read whole, at most
    /// `limit` bytes from the socket. A `GET` uses the idle connection if there is one
    /// (and a new one, once, if the server had closed it); other methods are never
    /// repeated, so they always open a connection of their own. A call dropped half-way
    /// (a timeout) drops its connection with it.
    pub async fn send(
        &self,
        method: Method,
        target: &str,
        body: Option<Bytes>,
        limit: usize,
    ) -> Result<Answer, TransportError> {
        let uri = Uri::try_from(target).map_err(|error| {
            TransportError::Broken(format!("the request target is not valid: {error}"))
        })?;
        let repeatable = method == Method::GET;
        if repeatable && let Some(stream) = self.take_idle() {
            let request = self.request(&method, &uri, body.clone())?;
            match exchange(stream, request, limit).await {
                Ok((answer, stream)) => return Ok(self.keep(stream, answer)),
                Err(Failure::Failed(error)) => return Err(error),
                Err(Failure::Stale(_)) => {}
            }
        }
        let stream = self.connect().await?;
        let request = self.request(&method, &uri, body)?;
        match exchange(stream, request, limit).await {
            Ok((answer, stream)) => Ok(self.keep(stream, answer)),
            Err(Failure::Failed(error)) => Err(error),
            Err(Failure::Stale(reason)) => Err(TransportError::Broken(format!(
                "the connection was closed before an answer came: {reason}"
            ))),
        }
    }

    fn request(
        &self,
        method: &Method,
        uri: &Uri,
        body: Option<Bytes>,
    ) -> Result<Request<Full<Bytes>>, TransportError> {
        let mut request = Request::builder()
            .method(method.clone())
            .uri(uri.clone())
            .header(HOST, self.host.clone())
            .header(USER_AGENT, HeaderValue::from_static(crate::USER_AGENT))
            .header(ACCEPT, HeaderValue::from_static("application/json"));
        if let Some(credentials) = &self.authorization {
            request = request.header(AUTHORIZATION, credentials.clone());
        }
        if body.is_some() {
            request = request.header(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        }
        request
            .body(Full::new(body.unwrap_or_default()))
            .map_err(|error| {
                TransportError::Broken(format!("building the request failed: {error}"))
            })
    }

    /// The idle connection, if the server has neither closed it nor sent anything on it
    /// since the last answer (an unrequested answer must never pass for the next one's).
    fn take_idle(&self) -> Option<TcpStream> {
        let stream = self.idle.lock().ok()?.take()?;
        quiet(&stream).then_some(stream)
    }

    /// Keeps `stream` as the idle connection unless one is kept already (two calls that
    /// overlapped): one idle connection per JobManager is enough. Whether anything came
    /// on it since is looked at once, when it is taken ([`Self::take_idle`]): bytes that
    /// arrive now are still there then.
    fn keep(&self, stream: Option<TcpStream>, answer: Answer) -> Answer {
        if let Some(stream) = stream
            && let Ok(mut idle) = self.idle.lock()
        {
            idle.get_or_insert(stream);
        }
        answer
    }

    async fn connect(&self) -> Result<TcpStream, TransportError> {
        let attempt = async {
            match &self.target {
                Target::Addr(addr) => TcpStream::connect(addr).await,
                Target::Name(name, port) => TcpStream::connect((name.as_str(), *port)).await,
            }
        };
        let stream = match tokio::time::timeout(CONNECT_TIMEOUT, attempt).await {
            Ok(Ok(stream)) => stream,
            Ok(Err(error)) => return Err(TransportError::Connect(error.to_string())),
            Err(_) => {
                return Err(TransportError::Connect(format!(
                    "no connection within {CONNECT_TIMEOUT:?}"
                )));
            }
        };
        // A request is one write; waiting for more to send would only delay it.
        let _ = stream.set_nodelay(true);
        Ok(stream)
    }
}

/// Nothing to read and not closed: a non-blocking peek at the socket itself (tokio's
/// `try_read` answers from its readiness cache, which may not have seen the bytes yet).
fn quiet(stream: &TcpStream) -> bool {
    let mut byte = [MaybeUninit::<u8>::uninit(); 1];
    matches!(
        socket2::SockRef::from(stream).peek(&mut byte),
        Err(error) if error.kind() == std::io::ErrorKind::WouldBlock
    )
}

fn proxy_configured() -> bool {
    ["HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"]
        .iter()
        .any(|name| std::env::var_os(name).is_some_and(|v| !v.is_empty()))
}

/// `user:password` of the URL, percent-decoded and base64-encoded, as reqwest sends them.
fn basic_credentials(base: &Url) -> Option<HeaderValue> {
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
    let encoded = base64::engine::general_purpose::STANDARD.encode(pair);
    let mut value = HeaderValue::try_from(format!("Basic {encoded}")).ok()?;
    value.set_sensitive(true);
    Some(value)
}
