//! The size of request heads, judged before hyper reads them.
//!
//! hyper's HTTP/1 parser has limits of its own (a URI of at most 65,534 bytes, a read buffer
//! of about 400 KB, 100 header fields), and a request past them gets hyper's own answer,
//! 414 or 431 with an empty body, before any of our code runs; hyper has no option to
//! change that answer. So the bytes of a connection pass through a [`HeadGuard`] on their
//! way to hyper: it holds each request head back until it is complete (hyper cannot act on
//! a partial head anyway), and when a head grows past limits that are above the API's own
//! (`ServerLimits`) and below hyper's, it hands hyper a small stand-in request instead and
//! drops the rest of the connection's input. The stand-in is answered with the contract's
//! envelope (`layers::refuse_oversized_head`); it asks hyper to close the connection.
//!
//! The guard finds where a head ends with httparse (hyper's own parser). It cannot know
//! where the next head starts after a request body, so after a head that announces one
//! (or one it cannot parse) it lets the rest of the connection through untouched; such
//! requests are refused (no endpoint takes a body) or answered by hyper.

use axum::http::StatusCode;
use bytes::BytesMut;

use super::ServerLimits;

/// hyper's `max_headers` default: a head with more fields gets hyper's empty 431.
pub const MAX_HEADER_FIELDS: usize = 100;

/// hyper's longest URI (`MAX_URI_LEN`, not configurable).
const HYPER_MAX_URI_BYTES: usize = 65_534;

/// Below hyper's default read buffer (8 KiB + 100 x 4 KiB), which bounds a head.
const HYPER_MAX_HEAD_BYTES: usize = 400_000;

/// Room in a request line besides its target: method, spaces, version, line end.
const LINE_SLACK: usize = 64;

/// Room per header field besides its name and value: `: ` and the line end.
const FIELD_SLACK: usize = 4;

/// What hyper is handed in place of a refused head.
pub const STAND_IN: &[u8] = b"GET / HTTP/1.1\r\nconnection: close\r\n\r\n";

/// A head the guard refused, to be answered in place of the stand-in request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// Which request of the connection the stand-in is, counting from 1.
    pub request: u64,
    pub status: StatusCode,
    pub why: String,
}

/// The limits a head is judged by: above the API's (which judges every head hyper
/// accepts), below hyper's (so hyper never answers on its own).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeadLimits {
    /// Longest request line.
    line_bytes: usize,
    /// Longest head, request line included.
    head_bytes: usize,
    max_target_bytes: usize,
    max_header_bytes: usize,
}

impl HeadLimits {
    pub fn new(limits: &ServerLimits) -> Self {
        let line_bytes = (limits.max_uri_bytes + LINE_SLACK).min(HYPER_MAX_URI_BYTES);
        let head_bytes = (line_bytes + limits.max_header_bytes + FIELD_SLACK * MAX_HEADER_FIELDS)
            .min(HYPER_MAX_HEAD_BYTES);
        Self {
            line_bytes,
            head_bytes,
            max_target_bytes: limits.max_uri_bytes,
            max_header_bytes: limits.max_header_bytes,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Holding back the head being received.
    Heads,
    /// After a body or a head it cannot parse: everything goes through.
    Through,
    /// After a refusal: the rest of the input is dropped.
    Refused,
}

#[derive(Debug)]
pub struct HeadGuard {
    limits: HeadLimits,
    mode: Mode,
    /// The head being received, not yet handed on.
    head: BytesMut,
    /// How much of `head` was looked at for line ends.
    scanned: usize,
    /// Where the line being received starts.
    line_start: usize,
    /// The length of the request line, once it ended (empty lines before it do not count).
    request_line: Option<usize>,
    /// Lines ended since the request line did, itself included.
    lines: usize,
    /// Heads handed to hyper, stand-ins included.
    heads_handed: u64,
}

impl HeadGuard {
    pub fn new(limits: HeadLimits) -> Self {
        Self {
            limits,
            mode: Mode::Heads,
            head: BytesMut::new(),
            scanned: 0,
            line_start: 0,
            request_line: None,
            lines: 0,
            heads_handed: 0,
        }
    }

    /// Whether input now goes to hyper as it is (after a body or a head it cannot parse).
    pub fn lets_everything_through(&self) -> bool {
        self.mode == Mode::Through
    }

    /// Takes bytes read from the client; appends to `out` what hyper may read now.
    pub fn feed(&mut self, input: &[u8], out: &mut BytesMut) -> Option<Refusal> {
        match self.mode {
            Mode::Through => {
                out.extend_from_slice(input);
                None
            }
            Mode::Refused => None,
            Mode::Heads => {
                self.head.extend_from_slice(input);
                self.hand_on_complete_heads(out)
            }
        }
    }

    /// The client closed its side: what is held back goes to hyper, which judges it.
    pub fn finish(&mut self, out: &mut BytesMut) {
        if self.mode == Mode::Heads {
            out.extend_from_slice(&self.head.split());
            self.mode = Mode::Through;
        }
    }

    fn hand_on_complete_heads(&mut self, out: &mut BytesMut) -> Option<Refusal> {
        while self.mode == Mode::Heads {
            let Some(newline) = memchr(b'\n', &self.head[self.scanned..]) else {
                self.scanned = self.head.len();
                return self.judge_partial(out);
            };
            let at = self.scanned + newline;
            self.scanned = at + 1;
            let line = &self.head[self.line_start..at];
            let empty = line.is_empty() || line == b"\r";
            if self.request_line.is_none() && !empty {
                self.request_line = Some(at - self.line_start);
            }
            if self.request_line.is_some() {
                self.lines += 1;
            }
            self.line_start = at + 1;
            if self.may_end_head(at) {
                match self.parse() {
                    Parsed::Partial => {}
                    Parsed::Complete { len, body } => {
                        self.hand_on(len, out);
                        if body {
                            self.mode = Mode::Through;
                            out.extend_from_slice(&self.head.split());
                        }
                    }
                    Parsed::TooManyFields => return Some(self.too_many_fields(out)),
                    Parsed::Invalid => {
                        // hyper answers it (400) and closes the connection.
                        self.mode = Mode::Through;
                        out.extend_from_slice(&self.head.split());
                    }
                }
            }
            if let Some(refusal) = self.judge_partial(out) {
                return Some(refusal);
            }
        }
        None
    }

    /// Whether the line end at `at` follows an empty line: `\n\n` or `\n\r\n`.
    fn may_end_head(&self, at: usize) -> bool {
        let before = &self.head[..at];
        before.ends_with(b"\n") || before.ends_with(b"\n\r")
    }

    /// Refuses the head being received if what is known of it (up to `scanned`: the input
    /// after it may belong to a later head) is past the limits already.
    fn judge_partial(&mut self, out: &mut BytesMut) -> Option<Refusal> {
        if self.mode != Mode::Heads {
            return None;
        }
        let request_line = match self.request_line {
            Some(len) => len,
            None => self.scanned - self.line_start,
        };
        if request_line > self.limits.line_bytes {
            let max = self.limits.max_target_bytes;
            return Some(self.refuse(
                StatusCode::URI_TOO_LONG,
                format!("the request target is more than {max} bytes; at most {max} are read"),
                out,
            ));
        }
        if self.scanned > self.limits.head_bytes {
            let max = self.limits.max_header_bytes;
            return Some(self.refuse(
                StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                format!("the headers are more than {max} bytes; at most {max} are read"),
                out,
            ));
        }
        // The request line, the fields and the empty line that ends them.
        if self.lines > MAX_HEADER_FIELDS + 2 {
            return Some(self.too_many_fields(out));
        }
        None
    }

    fn too_many_fields(&mut self, out: &mut BytesMut) -> Refusal {
        self.refuse(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            format!(
                "the request has more than {MAX_HEADER_FIELDS} header fields; at most {MAX_HEADER_FIELDS} are read"
            ),
            out,
        )
    }

    fn parse(&self) -> Parsed {
        let mut fields = [httparse::EMPTY_HEADER; MAX_HEADER_FIELDS];
        let mut request = httparse::Request::new(&mut fields);
        match request.parse(&self.head) {
            Ok(httparse::Status::Partial) => Parsed::Partial,
            Ok(httparse::Status::Complete(len)) => Parsed::Complete {
                len,
                body: announces_body(request.headers),
            },
            Err(httparse::Error::TooManyHeaders) => Parsed::TooManyFields,
            Err(_) => Parsed::Invalid,
        }
    }

    fn hand_on(&mut self, len: usize, out: &mut BytesMut) {
        out.extend_from_slice(&self.head.split_to(len));
        self.heads_handed += 1;
        self.scanned = 0;
        self.line_start = 0;
        self.request_line = None;
        self.lines = 0;
    }

    fn refuse(&mut self, status: StatusCode, why: String, out: &mut BytesMut) -> Refusal {
        out.extend_from_slice(STAND_IN);
        self.heads_handed += 1;
        self.mode = Mode::Refused;
        self.head = BytesMut::new();
        Refusal {
            request: self.heads_handed,
            status,
            why,
        }
    }
}

enum Parsed {
    Partial,
    Complete { len: usize, body: bool },
    TooManyFields,
    Invalid,
}

/// A body follows the head: a non-zero (or unreadable) `content-length`, or any
/// `transfer-encoding`.
fn announces_body(fields: &[httparse::Header<'_>]) -> bool {
    fields.iter().any(|field| {
        (field.name.eq_ignore_ascii_case("content-length")
            && std::str::from_utf8(field.value)
                .ok()
                .and_then(|v| v.trim().parse::<u64>().ok())
                != Some(0))
            || field.name.eq_ignore_ascii_case("transfer-encoding")
    })
}

fn memchr(byte: u8, haystack: &[u8]) -> Option<usize> {
    haystack.iter().position(|b| *b == byte)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn guard() -> HeadGuard {
        HeadGuard::new(HeadLimits::new(&ServerLimits::default()))
    }

    /// Feeds `input` in pieces of `step` bytes: what hyper gets, and the refusal if any.
    fn feed(guard: &mut HeadGuard, input: &[u8], step: usize) -> (Vec<u8>, Option<Refusal>) {
        let mut out = BytesMut::new();
        let mut refusal = None;
        for piece in input.chunks(step) {
            if let Some(r) = guard.feed(piece, &mut out) {
                refusal = Some(r);
            }
        }
        (out.to_vec(), refusal)
    }

    fn head(target: &str, fields: &[(&str, &str)]) -> Vec<u8> {
        let mut head = format!("GET {target} HTTP/1.1\r\nhost: x\r\n");
        for (name, value) in fields {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str("\r\n");
        head.into_bytes()
    }

    #[test]
    fn heads_within_the_limits_pass_unchanged_however_they_arrive() {
        let two = [
            head("/healthz", &[]),
            head("/jobs/overview/", &[("a", "b")]),
        ]
        .concat();
        let leading = [b"\r\n\r\n".as_slice(), &two].concat();
        for input in [&two, &leading] {
            for step in [1, 7, input.len()] {
                let (out, refusal) = feed(&mut guard(), input, step);
                assert_eq!((out, refusal), (input.clone(), None), "in pieces of {step}");
            }
        }
    }

    #[test]
    fn a_partial_head_is_held_back_until_it_is_complete() {
        let mut guard = guard();
        let whole = head("/healthz", &[]);
        let (out, _) = feed(&mut guard, &whole[..whole.len() - 2], 3);
        assert!(out.is_empty(), "{}", String::from_utf8_lossy(&out));
        let (out, _) = feed(&mut guard, &whole[whole.len() - 2..], 1);
        assert_eq!(out, whole);
        // At the end of the input, what is held goes to hyper, which judges it.
        let (out, _) = feed(&mut guard, b"GET /x HT", 4);
        assert!(out.is_empty());
        let mut rest = BytesMut::new();
        guard.finish(&mut rest);
        assert_eq!(&rest[..], b"GET /x HT");
    }

    #[test]
    fn a_long_target_is_refused_with_414_in_place_of_its_head() {
        let long = format!("/job/{}/status/", "a".repeat(70_000));
        let input = [
            head("/healthz", &[]),
            head(&long, &[]),
            head("/healthz", &[]),
        ]
        .concat();
        for step in [1000, input.len()] {
            let (out, refusal) = feed(&mut guard(), &input, step);
            assert_eq!(out, [head("/healthz", &[]).as_slice(), STAND_IN].concat());
            let refusal = refusal.expect("a refusal");
            assert_eq!(
                (refusal.request, refusal.status),
                (2, StatusCode::URI_TOO_LONG)
            );
            assert!(refusal.why.contains("32768"), "{}", refusal.why);
        }
    }

    #[test]
    fn too_many_or_too_large_header_fields_are_refused_with_431() {
        let many: Vec<(String, &str)> = (0..150).map(|i| (format!("x-{i}"), "v")).collect();
        let many: Vec<(&str, &str)> = many.iter().map(|(n, v)| (n.as_str(), *v)).collect();
        let exactly_100: Vec<(&str, &str)> = many[..99].to_vec(); // and host
        let big = "b".repeat(500_000);
        for (fields, says) in [
            (&many[..], "header fields"),
            (&many[..101], "header fields"),
            (&[("x-big", big.as_str())][..], "the headers are"),
        ] {
            for step in [100, usize::MAX] {
                let input = head("/healthz", fields);
                let (out, refusal) = feed(&mut guard(), &input, step.min(input.len()));
                let refusal = refusal.expect("a refusal");
                assert_eq!(out, STAND_IN);
                assert_eq!(refusal.status, StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
                assert!(refusal.why.contains(says), "{}", refusal.why);
            }
        }
        let input = head("/healthz", &exactly_100);
        assert_eq!(feed(&mut guard(), &input, 10), (input, None));
    }

    #[test]
    fn after_a_refusal_the_rest_of_the_input_is_dropped() {
        let mut guard = guard();
        let long = format!("GET /{} HTTP/1.1\r\n", "a".repeat(70_000));
        let (out, refusal) = feed(&mut guard, long.as_bytes(), 4096);
        assert_eq!((out.as_slice(), refusal.is_some()), (STAND_IN, true));
        assert_eq!(feed(&mut guard, &head("/healthz", &[]), 5), (vec![], None));
    }

    #[test]
    fn after_a_head_with_a_body_everything_goes_through() {
        let with_body = [
            head("/jobs/overview/", &[("content-length", "5")]),
            b"hello".to_vec(),
        ]
        .concat();
        let chunked = head("/x", &[("transfer-encoding", "chunked")]);
        let huge = format!("GET /{} HTTP/1.1\r\n", "a".repeat(70_000));
        for first in [with_body, chunked] {
            let input = [first.as_slice(), huge.as_bytes()].concat();
            assert_eq!(feed(&mut guard(), &input, 999), (input, None));
        }
        // A zero length announces no body: the next head is judged.
        let input = [head("/x", &[("content-length", "0")]), huge.into_bytes()].concat();
        assert!(feed(&mut guard(), &input, 999).1.is_some());
    }

    #[test]
    fn a_head_it_cannot_parse_goes_to_hyper_as_it_is() {
        let input = b"GET /\x01 HTTP/1.1\r\n\r\nGET /healthz HTTP/1.1\r\n\r\n".to_vec();
        assert_eq!(feed(&mut guard(), &input, 3), (input, None));
    }

    #[test]
    fn the_guard_s_limits_are_above_the_api_s_and_below_hyper_s() {
        let api = ServerLimits::default();
        let limits = HeadLimits::new(&api);
        assert!(limits.line_bytes > api.max_uri_bytes && limits.line_bytes <= HYPER_MAX_URI_BYTES);
        assert!(limits.head_bytes > api.max_uri_bytes + api.max_header_bytes);
        assert!(limits.head_bytes <= HYPER_MAX_HEAD_BYTES);
    }
}
