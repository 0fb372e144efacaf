//! A job's task counts by state (`tasks` of `GET /jobs/overview`), kept small.
//!
//! Every job of every snapshot has them, and they are passed through to the API as Flink
//! wrote them. As raw JSON they are one allocation of about 170 bytes per job (1.7 MB at
//! 10,000 jobs); Flink's usual form, `{"running":2,"canceling":0,...}` with known keys and
//! plain integers, fits in 30 bytes inline: a key's index and its count as LEB128, in
//! Flink's order. Anything else (other keys, spaces, escapes, signs, fractions, too many
//! bytes) is kept raw, so what the API writes is always exactly what Flink wrote.

use std::fmt;

use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::value::RawValue;

/// The keys Flink writes in `tasks` (1.20 and 2.x): `total` and its execution states.
const KEYS: [&str; 12] = [
    "total",
    "created",
    "scheduled",
    "deploying",
    "running",
    "finished",
    "canceling",
    "canceled",
    "failed",
    "reconciling",
    "initializing",
    "pending",
];

/// Bytes of the inline form: twelve keys with counts below 128 take 24.
const COMPACT_BYTES: usize = 30;

#[derive(Clone)]
pub enum TaskCounts {
    /// `(key index, LEB128 count)` pairs, in the order Flink wrote them.
    Compact { len: u8, bytes: [u8; COMPACT_BYTES] },
    /// As Flink wrote them, when they are not in the form above.
    Raw(Box<RawValue>),
}

impl TaskCounts {
    /// The counts of `raw`, as Flink wrote them.
    fn from_raw(raw: Box<RawValue>) -> Self {
        encode(raw.get()).unwrap_or(Self::Raw(raw))
    }

    /// The `(key, count)` pairs of the inline form, in order.
    fn pairs(bytes: &[u8]) -> impl Iterator<Item = (&'static str, u64)> + '_ {
        let mut at = 0;
        std::iter::from_fn(move || {
            let key = KEYS[usize::from(*bytes.get(at)?)];
            at += 1;
            let (count, used) = read_leb128(&bytes[at..]);
            at += used;
            Some((key, count))
        })
    }
}

/// The inline form of `text`, when it is exactly `{"key":count,...}` with known keys and
/// counts written as JSON writes a non-negative integer (no sign, no leading zero).
fn encode(text: &str) -> Option<TaskCounts> {
    let mut bytes = [0u8; COMPACT_BYTES];
    let mut len = 0usize;
    let mut rest = text.strip_prefix('{')?;
    if rest == "}" {
        return Some(TaskCounts::Compact { len: 0, bytes });
    }
    loop {
        rest = rest.strip_prefix('"')?;
        let (key, after) = rest.split_once('"')?;
        let index = KEYS.iter().position(|k| *k == key)?;
        rest = after.strip_prefix(':')?;
        let digits = rest.len() - rest.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        let (number, after) = rest.split_at(digits);
        if number.is_empty() || (number.len() > 1 && number.starts_with('0')) {
            return None;
        }
        let count: u64 = number.parse().ok()?;
        *bytes.get_mut(len)? = u8::try_from(index).ok()?;
        len += 1;
        len += write_leb128(count, bytes.get_mut(len..)?)?;
        if after == "}" {
            return Some(TaskCounts::Compact {
                len: u8::try_from(len).ok()?,
                bytes,
            });
        }
        rest = after.strip_prefix(',')?;
    }
}

/// Writes `value` as LEB128 into `out`; the bytes used, or None when it does not fit.
fn write_leb128(mut value: u64, out: &mut [u8]) -> Option<usize> {
    let mut used = 0;
    loop {
        let byte = (value & 0x7f) as u8;
        value >>= 7;
        let slot = out.get_mut(used)?;
        used += 1;
        if value == 0 {
            *slot = byte;
            return Some(used);
        }
        *slot = byte | 0x80;
    }
}

/// Reads a LEB128 value written by [`write_leb128`]: the value and the bytes used.
fn read_leb128(bytes: &[u8]) -> (u64, usize) {
    let mut value = 0u64;
    for (i, byte) in bytes.iter().enumerate() {
        value |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            return (value, i + 1);
        }
    }
    (value, bytes.len())
}

impl<'de> Deserialize<'de> for TaskCounts {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Box::<RawValue>::deserialize(deserializer).map(Self::from_raw)
    }
}

impl Serialize for TaskCounts {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Raw(raw) => raw.serialize(serializer),
            Self::Compact { len, bytes } => {
                let pairs = &bytes[..usize::from(*len)];
                let mut map = serializer.serialize_map(None)?;
                for (key, count) in Self::pairs(pairs) {
                    map.serialize_entry(key, &count)?;
                }
                map.end()
            }
        }
    }
}

impl fmt::Debug for TaskCounts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match serde_json::to_string(self) {
            Ok(json) => f.write_str(&json),
            Err(_) => f.write_str("TaskCounts(?)"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(json: &str) -> (bool, String) {
        let counts: TaskCounts = serde_json::from_str(json).expect("valid JSON");
        let compact = matches!(counts, TaskCounts::Compact { .. });
        (compact, serde_json::to_string(&counts).expect("serializes"))
    }

    #[test]
    fn flinks_usual_counts_are_kept_inline_and_written_back_byte_for_byte() {
        for json in [
            r#"{"running":2,"canceling":0,"canceled":0,"total":2,"created":0,"scheduled":0,"deploying":0,"reconciling":0,"finished":0,"initializing":0,"failed":0}"#,
            r#"{"running":0,"canceling":0,"canceled":0,"total":4,"created":0,"scheduled":0,"deploying":0,"reconciling":0,"finished":0,"initializing":0,"failed":0,"pending":4}"#,
            r#"{"total":1000000,"running":999999,"failed":1}"#,
            r#"{"total":18446744073709551615}"#,
            "{}",
        ] {
            assert_eq!(round_trip(json), (true, json.to_string()), "{json}");
        }
    }

    #[test]
    fn anything_else_is_kept_as_flink_wrote_it() {
        for json in [
            r#"{"RUNNING":2}"#,                  // another key
            r#"{"running": 2}"#,                 // a space
            r#"{"running":-1}"#,                 // a sign
            r#"{"running":2.0}"#,                // a fraction
            r#"{"running":1e3}"#,                // an exponent
            r#"{"run\u006eing":2}"#,             // an escape
            r#"{"running":"2"}"#,                // a string
            r#"{"total":18446744073709551616}"#, // over u64
            r#"[1,2]"#,
            "null",
        ] {
            let counts: TaskCounts = serde_json::from_str(json).expect("valid JSON");
            assert!(matches!(counts, TaskCounts::Raw(_)), "{json} kept inline");
            assert_eq!(serde_json::to_string(&counts).unwrap(), json);
        }
        assert!(encode(r#"{"running":02}"#).is_none(), "leading zero");
    }

    #[test]
    fn more_than_fits_inline_is_kept_raw() {
        // Twelve keys with counts of 2^21 and more take 4 bytes each: 60 > 30.
        let json = format!(
            "{{{}}}",
            KEYS.iter()
                .map(|k| format!("\"{k}\":2097152"))
                .collect::<Vec<_>>()
                .join(",")
        );
        assert_eq!(round_trip(&json), (false, json.clone()));
    }

    #[test]
    fn the_counts_take_32_bytes_inline() {
        // A job keeps it inline beside its other fields: 32 bytes, no allocation.
        assert!(std::mem::size_of::<Option<TaskCounts>>() <= 32);
    }

    #[test]
    fn leb128_round_trips_at_the_edges() {
        for value in [0, 1, 127, 128, 16383, 16384, u64::from(u32::MAX), u64::MAX] {
            let mut out = [0u8; 10];
            let used = write_leb128(value, &mut out).expect("fits in 10");
            assert_eq!(read_leb128(&out[..used]), (value, used));
        }
        assert_eq!(write_leb128(128, &mut [0u8; 1]), None);
    }
}
