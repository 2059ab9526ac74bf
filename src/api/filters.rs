//! The `filters` query parameter in both encodings clients send: the Go client's map of bools
//! (`{"label":{"a=b":true}}`) and docker-py's lists (`{"label":["a=b"]}`), as the `KEY=VALUE`
//! words `ps --filter` takes.

use serde_json::Value;

use super::error::ApiError;

pub fn parse(text: Option<&str>) -> Result<Vec<String>, ApiError> {
    let Some(text) = text.filter(|t| !t.trim().is_empty()) else { return Ok(Vec::new()) };
    let bad = || ApiError::bad(format!("invalid filters {text:?}: expected a JSON object of lists or of booleans"));
    let Value::Object(map) = serde_json::from_str(text).map_err(|_| bad())? else { return Err(bad()) };
    let mut words = Vec::new();
    for (key, values) in map {
        match values {
            Value::Array(list) => {
                for v in list {
                    words.push(format!("{key}={}", v.as_str().ok_or_else(bad)?));
                }
            }
            Value::Object(set) => {
                for (v, on) in set {
                    if on.as_bool().ok_or_else(bad)? {
                        words.push(format!("{key}={v}"));
                    }
                }
            }
            _ => return Err(bad()),
        }
    }
    Ok(words)
}

/// The values of one key.
pub fn values<'a>(words: &'a [String], key: &str) -> impl Iterator<Item = &'a str> {
    let prefix = format!("{key}=");
    words.iter().filter_map(move |w| w.strip_prefix(prefix.as_str()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_encodings_give_the_same_words() {
        let go = parse(Some(r#"{"label":{"a=b":true,"off":false},"status":{"exited":true}}"#)).unwrap();
        let py = parse(Some(r#"{"label":["a=b"],"status":["exited"]}"#)).unwrap();
        assert_eq!(go, vec!["label=a=b", "status=exited"]);
        assert_eq!(go, py);
        assert!(parse(Some("[1]")).is_err());
        assert!(parse(Some(r#"{"label":"x"}"#)).is_err());
        assert!(parse(None).unwrap().is_empty());
        assert_eq!(values(&go, "label").collect::<Vec<_>>(), vec!["a=b"]);
    }
}
