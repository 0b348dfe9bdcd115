//! The one JSON reader of this crate: every model's input (and the benchmark readers)
//! goes through [`from_json`], so a malformed file is refused the same way everywhere,
//! with line, column and field path. Also the helpers the models use to read their
//! inputs: id-to-index maps and quantile interpolation.

use std::collections::HashMap;

use serde::de::DeserializeOwned;

/// Where a JSON input is malformed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}, column {column}, at `{path}`: {message}")]
pub struct InputError {
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
    /// Field path (`patients[3].sex`).
    pub path: String,
    /// serde_json's message, without its own "at line L column C".
    pub message: String,
}

/// Reads JSON text into `T`, locating errors by line, column and field path.
pub fn from_json<T: DeserializeOwned>(text: &str) -> Result<T, InputError> {
    let de = &mut serde_json::Deserializer::from_str(text);
    serde_path_to_error::deserialize(de).map_err(|e| InputError {
        line: e.inner().line(),
        column: e.inner().column(),
        path: e.path().to_string(),
        // serde_json appends "at line L column C", which the fields above say already.
        message: {
            let m = e.inner().to_string();
            match m.rfind(" at line ") {
                Some(i) => m[..i].to_owned(),
                None => m,
            }
        },
    })
}

/// Index of each item by its id (`id` reads it), for the id references of an input.
pub(crate) fn index_by_id<'a, T>(
    items: &'a [T],
    id: impl Fn(&'a T) -> &'a str,
) -> HashMap<&'a str, usize> {
    items.iter().enumerate().map(|(i, t)| (id(t), i)).collect()
}

/// The value at `level` of a forecast given as (level, value) quantiles, interpolated
/// linearly between them and flat beyond the first and last.
pub(crate) fn quantile(qs: &[(f64, f64)], level: f64) -> f64 {
    let mut qs = qs.to_vec();
    qs.sort_by(|a, b| a.0.total_cmp(&b.0));
    match qs.iter().position(|q| q.0 >= level) {
        None => qs.last().map_or(0.0, |q| q.1),
        Some(0) => qs[0].1,
        Some(i) => {
            let (l0, v0) = qs[i - 1];
            let (l1, v1) = qs[i];
            v0 + (v1 - v0) * (level - l0) / (l1 - l0)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_are_located_without_serde_json_repeating_the_position() {
        let err = from_json::<Vec<u32>>("[1,\n \"x\"]").unwrap_err();
        assert_eq!((err.line, err.path.as_str()), (2, "[1]"));
        assert!(!err.message.contains("at line"), "{}", err.message);
        assert!(err.to_string().starts_with("line 2, column "), "{err}");
    }
}
