//! The stream encodings: Docker's multiplexed frames (an 8-byte header `[kind,0,0,0,len_be32]`
//! before each chunk of a non-TTY stream) and newline-delimited JSON progress messages.

use bytes::Bytes;
use serde_json::Value;

pub const MULTIPLEXED: &str = "application/vnd.docker.multiplexed-stream";
pub const RAW: &str = "application/vnd.docker.raw-stream";

/// Which stream a chunk of output belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Stdout = 1,
    Stderr = 2,
    /// An error from the server, which the client shows as one.
    System = 3,
}

/// `payload` framed for a multiplexed stream, or as it is for a TTY's raw one.
pub fn frame(kind: Kind, payload: &[u8], tty: bool) -> Bytes {
    if tty {
        return Bytes::copy_from_slice(payload);
    }
    let mut out = Vec::with_capacity(8 + payload.len());
    out.extend_from_slice(&[kind as u8, 0, 0, 0]);
    out.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    out.extend_from_slice(payload);
    Bytes::from(out)
}

/// One JSON progress message, newline-terminated.
pub fn json_line(value: &Value) -> Bytes {
    let mut out = serde_json::to_vec(value).unwrap_or_default();
    out.push(b'\n');
    Bytes::from(out)
}

/// An error in a JSON progress stream, where the status has gone out already.
pub fn json_error(message: &str) -> Bytes {
    json_line(&serde_json::json!({ "errorDetail": { "message": message }, "error": message }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_carry_kind_and_big_endian_length() {
        assert_eq!(&frame(Kind::Stderr, b"hi", false)[..], b"\x02\0\0\0\0\0\0\x02hi");
        assert_eq!(&frame(Kind::Stdout, &[7; 300], false)[..8], b"\x01\0\0\0\0\0\x01\x2c");
        assert_eq!(&frame(Kind::Stdout, b"raw", true)[..], b"raw");
        assert_eq!(&json_error("x")[..], b"{\"error\":\"x\",\"errorDetail\":{\"message\":\"x\"}}\n");
    }
}
