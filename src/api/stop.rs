//! Stop: who may ask (the guard) and how (`mode`, `targetDirectory`, `drain`).

use std::sync::Arc;

use axum::http::{HeaderMap, header};

use super::error::ApiError;

/// Who may stop jobs. Checked before the job is looked up.
#[derive(Clone, Default)]
pub enum StopGuard {
    /// The default: every stop answers 403 / 4010.
    #[default]
    Disabled,
    /// `--enable-stop` without a token file: no credentials needed.
    Open,
    /// `--enable-stop --stop-token-file F`: `Authorization: Bearer <token>` required.
    StaticToken(Arc<str>),
}

impl std::fmt::Debug for StopGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the token.
        f.write_str(match self {
            Self::Disabled => "Disabled",
            Self::Open => "Open",
            Self::StaticToken(_) => "StaticToken(<redacted>)",
        })
    }
}

/// Who a stop was allowed for, for the log line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller(pub String);

impl StopGuard {
    pub fn check(&self, headers: &HeaderMap) -> Result<Caller, ApiError> {
        match self {
            Self::Disabled => Err(ApiError::forbidden(
                "stop is disabled; start flink-monitor with --enable-stop to allow it",
            )),
            Self::Open => Ok(Caller("anonymous (stop is open)".into())),
            Self::StaticToken(expected) => {
                let token = bearer_token(headers).ok_or_else(ApiError::unauthenticated)?;
                if constant_time_eq(token.as_bytes(), expected.as_bytes()) {
                    Ok(Caller("holder of the stop token".into()))
                } else {
                    Err(ApiError::forbidden("the bearer token is not the stop token"))
                }
            }
        }
    }
}

pub fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// Compares without an early exit, so timing does not reveal how much of a guess matched.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StopMode {
    Cancel,
    Savepoint {
        target_directory: Option<String>,
        drain: bool,
    },
}

/// Parses the stop query. `mode` is `cancel` (the default) or `savepoint`; `drain` is
/// `true` or `false`.
pub fn parse_stop_query(query: Option<&str>) -> Result<StopMode, ApiError> {
    let mut mode = None;
    let mut target_directory = None;
    let mut drain = None;
    for (key, value) in form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
        match key.as_ref() {
            "mode" => mode = Some(value.into_owned()),
            "targetDirectory" => target_directory = Some(value.into_owned()),
            "drain" => drain = Some(value.into_owned()),
            _ => {}
        }
    }
    let drain = match drain.as_deref() {
        None | Some("false") => false,
        Some("true") => true,
        Some(other) => {
            return Err(ApiError::bad_parameter(format!(
                "drain must be true or false, not {other:?}"
            )));
        }
    };
    match mode.as_deref() {
        None | Some("cancel") => Ok(StopMode::Cancel),
        Some("savepoint") => Ok(StopMode::Savepoint {
            target_directory: target_directory.filter(|d| !d.is_empty()),
            drain,
        }),
        Some(other) => Err(ApiError::bad_parameter(format!(
            "mode must be cancel or savepoint, not {other:?}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(auth: Option<&str>) -> HeaderMap {
        let mut h = HeaderMap::new();
        if let Some(a) = auth {
            h.insert(header::AUTHORIZATION, HeaderValue::from_str(a).unwrap());
        }
        h
    }

    #[test]
    fn the_static_token_guard_wants_exactly_the_token() {
        let guard = StopGuard::StaticToken("s3cret".into());
        assert!(guard.check(&headers(Some("Bearer s3cret"))).is_ok());
        assert!(guard.check(&headers(Some("bearer  s3cret "))).is_ok());
        let missing = guard.check(&headers(None)).unwrap_err();
        assert_eq!((missing.status.as_u16(), missing.code), (401, 4010));
        let wrong = guard.check(&headers(Some("Bearer s3cre"))).unwrap_err();
        assert_eq!((wrong.status.as_u16(), wrong.code), (403, 4010));
        let basic = guard.check(&headers(Some("Basic s3cret"))).unwrap_err();
        assert_eq!(basic.status.as_u16(), 401);
    }

    #[test]
    fn disabled_is_403_and_open_needs_nothing() {
        let denied = StopGuard::Disabled.check(&headers(None)).unwrap_err();
        assert_eq!((denied.status.as_u16(), denied.code), (403, 4010));
        assert!(StopGuard::Open.check(&headers(None)).is_ok());
        assert!(!format!("{:?}", StopGuard::StaticToken("s3cret".into())).contains("s3cret"));
    }

    #[test]
    fn stop_query_modes() {
        assert_eq!(parse_stop_query(None).unwrap(), StopMode::Cancel);
        assert_eq!(
            parse_stop_query(Some("mode=savepoint&targetDirectory=file%3A%2F%2F%2Ftmp%2Fsp&drain=true")).unwrap(),
            StopMode::Savepoint {
                target_directory: Some("file:///tmp/sp".into()),
                drain: true
            }
        );
        assert_eq!(parse_stop_query(Some("mode=kill")).unwrap_err().code, 4001);
        assert_eq!(parse_stop_query(Some("mode=savepoint&drain=yes")).unwrap_err().code, 4001);
    }
}
