//! How to stop: the query of a stop request (`mode`, `targetDirectory`, `drain`).

use crate::api::error::ApiError;

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

    #[test]
    fn stop_query_modes() {
        assert_eq!(parse_stop_query(None).unwrap(), StopMode::Cancel);
        assert_eq!(
            parse_stop_query(Some(
                "mode=savepoint&targetDirectory=file%3A%2F%2F%2Ftmp%2Fsp&drain=true"
            ))
            .unwrap(),
            StopMode::Savepoint {
                target_directory: Some("file:///tmp/sp".into()),
                drain: true
            }
        );
        assert_eq!(parse_stop_query(Some("mode=kill")).unwrap_err().code, 4001);
        assert_eq!(
            parse_stop_query(Some("mode=savepoint&drain=yes"))
                .unwrap_err()
                .code,
            4001
        );
    }
}
