//! Plain HTTP(S) downloads (a build's `ADD URL`): one GET on the registry runtime with the
//! transport settings every request shares (timeouts, user agent, the proxy variables), the
//! body streamed to a file while it is hashed.

use std::io::Write;
use std::path::{Path, PathBuf};

use sha2::{Digest as _, Sha256};

use super::{CONNECT_TIMEOUT, READ_TIMEOUT, USER_AGENT, block_on, describe_request_error};

#[derive(Debug, thiserror::Error)]
pub enum DownloadError {
    #[error("{url}: {detail}")]
    Http { url: String, detail: String },
    #[error("{}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
}

/// What a download gave besides the file.
#[derive(Debug, Clone)]
pub struct Fetched {
    /// `sha256:<hex>` of the body.
    pub digest: String,
    pub size: u64,
    /// The `Last-Modified` header, in seconds since 1970.
    pub last_modified: Option<i64>,
    /// The `filename` of a `Content-Disposition` header (its last path part).
    pub filename: Option<String>,
}

/// GETs `url` into a new file at `dest`.
pub fn download(url: &str, dest: &Path) -> Result<Fetched, DownloadError> {
    let http = |detail: String| DownloadError::Http { url: url.to_owned(), detail };
    let io = |source| DownloadError::Io { path: dest.to_owned(), source };
    let client = reqwest::Client::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .read_timeout(READ_TIMEOUT)
        .user_agent(USER_AGENT)
        .build()
        .map_err(|e| http(describe_request_error(&e)))?;
    let mut file = std::fs::File::create_new(dest).map_err(io)?;
    let fetched = block_on(async {
        let mut response = client.get(url).send().await.map_err(|e| http(describe_request_error(&e)))?;
        let status = response.status();
        if !status.is_success() {
            return Err(http(format!("the server answered {status}")));
        }
        let headers = response.headers();
        let header = |name| headers.get(name).and_then(|v: &reqwest::header::HeaderValue| v.to_str().ok());
        let last_modified = header(reqwest::header::LAST_MODIFIED)
            .and_then(|v| chrono::DateTime::parse_from_rfc2822(v).ok())
            .map(|t| t.timestamp());
        let filename = header(reqwest::header::CONTENT_DISPOSITION).and_then(disposition_filename);
        let mut hasher = Sha256::new();
        let mut size = 0u64;
        while let Some(chunk) = response.chunk().await.map_err(|e| http(describe_request_error(&e)))? {
            hasher.update(&chunk);
            size += chunk.len() as u64;
            file.write_all(&chunk).map_err(io)?;
        }
        Ok(Fetched { digest: format!("sha256:{}", hex::encode(hasher.finalize())), size, last_modified, filename })
    })
    .map_err(io)??;
    file.sync_all().map_err(io)?;
    Ok(fetched)
}

/// `attachment; filename="x.tar.gz"` → `x.tar.gz` (a path in it is cut to its last part).
fn disposition_filename(value: &str) -> Option<String> {
    let field = value.split(';').map(str::trim).find_map(|f| f.strip_prefix("filename="))?;
    let name = field.trim_matches('"');
    let name = name.rsplit(['/', '\\']).next().unwrap_or("");
    (!name.is_empty() && name != "." && name != "..").then(|| name.to_owned())
}

#[cfg(test)]
mod tests {
    use super::disposition_filename;

    #[test]
    fn the_disposition_filename_is_a_plain_name() {
        assert_eq!(disposition_filename("attachment; filename=\"a.tgz\"").as_deref(), Some("a.tgz"));
        assert_eq!(disposition_filename("attachment; filename=../../etc/passwd").as_deref(), Some("passwd"));
        assert_eq!(disposition_filename("attachment; filename=\"..\""), None);
        assert_eq!(disposition_filename("inline"), None);
    }
}
