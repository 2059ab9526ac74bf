//! The HTTP plumbing every endpoint shares: the response body type (whole, or streamed from a
//! channel so headers leave at once), JSON replies, the query string, and request bodies read
//! with a size limit.

use std::collections::HashMap;
use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited, combinators::BoxBody};
use hyper::body::{Body, Frame, Incoming};
use hyper::{Response, StatusCode, header};
use serde_json::Value;
use tokio::sync::mpsc;

use super::error::ApiError;

pub type ApiBody = BoxBody<Bytes, Infallible>;
pub type ApiResponse = Response<ApiBody>;

/// The largest request body read into memory (a create's JSON is a few KiB).
pub const MAX_BODY: usize = 4 * 1024 * 1024;

/// A body whose chunks come from a channel; it ends when every sender is gone.
pub struct ChannelBody {
    rx: mpsc::Receiver<Bytes>,
}

impl Body for ChannelBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        self.rx.poll_recv(cx).map(|chunk| chunk.map(|b| Ok(Frame::data(b))))
    }
}

/// A streamed response body and the sender that feeds it. A send fails once the client has
/// gone, which is how the producer learns to stop.
pub fn channel() -> (mpsc::Sender<Bytes>, ApiBody) {
    let (tx, rx) = mpsc::channel(64);
    (tx, ChannelBody { rx }.boxed())
}

pub fn full(bytes: impl Into<Bytes>) -> ApiBody {
    Full::new(bytes.into()).boxed()
}

pub fn empty() -> ApiBody {
    full(Bytes::new())
}

pub fn json(status: StatusCode, value: &Value) -> ApiResponse {
    let mut body = serde_json::to_vec(value).unwrap_or_default();
    body.push(b'\n');
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "application/json")
        .body(full(body))
        .unwrap_or_else(|_| Response::new(empty()))
}

pub fn ok_json(value: &Value) -> ApiResponse {
    json(StatusCode::OK, value)
}

pub fn status(status: StatusCode) -> ApiResponse {
    Response::builder().status(status).body(empty()).unwrap_or_else(|_| Response::new(empty()))
}

/// A streamed reply with `content_type`; the status and headers go out before the first chunk.
pub fn streaming(content_type: &str, body: ApiBody) -> ApiResponse {
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, content_type)
        .body(body)
        .unwrap_or_else(|_| Response::new(empty()))
}

/// The query string, decoded; of a key given twice the last value counts.
#[derive(Debug, Default)]
pub struct Query {
    all: HashMap<String, Vec<String>>,
}

impl Query {
    pub fn parse(text: Option<&str>) -> Query {
        let mut all: HashMap<String, Vec<String>> = HashMap::new();
        for pair in text.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            all.entry(decode(k)).or_default().push(decode(v));
        }
        Query { all }
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.all.get(key).and_then(|v| v.last()).map(String::as_str)
    }

    /// Every value of a key given more than once (`names=a&names=b`).
    pub fn all(&self, key: &str) -> Vec<String> {
        self.all.get(key).cloned().unwrap_or_default()
    }

    /// Docker's booleans: `1`, `true`, `True` (anything but empty, `0`, `false`).
    pub fn flag(&self, key: &str) -> bool {
        self.get(key).is_some_and(|v| !matches!(v, "" | "0" | "false" | "False" | "FALSE"))
    }

    pub fn number<T: std::str::FromStr>(&self, key: &str) -> Result<Option<T>, ApiError> {
        match self.get(key) {
            None | Some("") => Ok(None),
            Some(v) => v.parse().map(Some).map_err(|_| ApiError::bad(format!("invalid value for {key}: {v:?}"))),
        }
    }
}

/// `%XX` and `+` decoded (a form-encoded query string).
fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                match u8::from_str_radix(std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("zz"), 16) {
                    Ok(b) => {
                        out.push(b);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Runs store work (flocks, files, child processes) on a thread of its own, outside the
/// runtime: a plain thread, so library code that makes its own runtime (a pull) may.
pub async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("berth-api".into())
        .spawn(move || {
            let _ = tx.send(work());
        })
        .map_err(|e| ApiError::Failed {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            message: format!("starting a thread: {e}"),
        })?;
    rx.await.unwrap_or_else(|_| {
        Err(ApiError::Failed { status: StatusCode::INTERNAL_SERVER_ERROR, message: "a request's work panicked".into() })
    })
}

/// The request body, at most [`MAX_BODY`] bytes (413 beyond).
pub async fn read_body(body: Incoming) -> Result<Bytes, ApiError> {
    match Limited::new(body, MAX_BODY).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.downcast_ref::<http_body_util::LengthLimitError>().is_some() => Err(ApiError::TooLarge),
        Err(e) => Err(ApiError::bad(format!("reading the request body: {e}"))),
    }
}

/// The body as JSON; an empty body is `null`.
pub async fn read_json(body: Incoming) -> Result<Value, ApiError> {
    let bytes = read_body(body).await?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(Value::Null);
    }
    serde_json::from_slice(&bytes).map_err(|e| ApiError::bad(format!("malformed JSON in the request body: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_strings_decode() {
        let q = Query::parse(Some("filters=%7B%22label%22%3A%5B%22a%3Db%22%5D%7D&all=1&t=10&x=a+b&bad=%zz%4"));
        assert_eq!(q.get("filters"), Some(r#"{"label":["a=b"]}"#));
        assert!(q.flag("all"));
        assert!(!q.flag("none"));
        assert_eq!(q.number::<u32>("t").unwrap(), Some(10));
        assert!(q.number::<u32>("x").is_err());
        assert_eq!(q.get("x"), Some("a b"));
        assert_eq!(q.get("bad"), Some("%zz%4"));
    }
}
