//! Checking a user name and password against a registry, as `docker login` does: ask `/v2/`
//! anonymously, then answer its challenge: Basic (send the credentials to `/v2/` itself) or
//! Bearer (get a token from the realm with them, then show the token to `/v2/`).
//!
//! oci-client cannot do this: for a Basic challenge it keeps the credentials without sending
//! them, so a wrong password would pass.

use std::time::Duration;

use reqwest::{StatusCode, Url};

use crate::config::Settings;
use crate::image::registry::is_insecure;

#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    #[error("unauthorized: the registry refused the user name or password ({0})")]
    Unauthorized(String),
    #[error("{0}")]
    Transport(String),
    #[error("unexpected answer from the registry: {0}")]
    Protocol(String),
}

/// Checks that `registry` accepts `user`/`password`. Ok too when the registry asks for no
/// credentials at all (there is nothing to check). Runs its own single-threaded async runtime.
pub fn verify_credentials(settings: &Settings, registry: &str, user: &str, password: &str) -> Result<(), LoginError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| LoginError::Transport(format!("starting the async runtime: {e}")))?;
    let base = base_url(settings, registry)?;
    let client = http_client(settings, registry)?;
    runtime.block_on(probe(&client, &base, user, password))
}

/// The URL of the registry's API root, `/v2/`, over the scheme pull uses for it.
fn base_url(settings: &Settings, registry: &str) -> Result<Url, LoginError> {
    let scheme = if is_insecure(settings, registry) { "http" } else { "https" };
    // Docker Hub's API lives on another host than its name.
    let host = super::registry::api_host(registry);
    Url::parse(&format!("{scheme}://{host}/v2/"))
        .map_err(|e| LoginError::Protocol(format!("{registry:?} is not a registry host name: {e}")))
}

fn http_client(settings: &Settings, registry: &str) -> Result<reqwest::Client, LoginError> {
    reqwest::Client::builder()
        .tls_certs_merge(ca_certificates(settings, registry))
        .connect_timeout(Duration::from_secs(30))
        .timeout(Duration::from_secs(60))
        .user_agent(concat!("berth/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| LoginError::Transport(super::registry::describe_request_error(&e)))
}

/// The same CA certificates pull trusts.
fn ca_certificates(settings: &Settings, registry: &str) -> Vec<reqwest::Certificate> {
    super::registry::ca_certificate_pems(settings, registry)
        .iter()
        .filter_map(|pem| reqwest::Certificate::from_pem(pem).ok())
        .collect()
}

async fn probe(client: &reqwest::Client, base: &Url, user: &str, password: &str) -> Result<(), LoginError> {
    let anonymous = send(client.get(base.clone())).await?;
    match anonymous.status() {
        status if status.is_success() => return Ok(()),
        StatusCode::UNAUTHORIZED => {}
        _ => return Err(unexpected("GET /v2/", anonymous).await),
    }
    let header = anonymous.headers().get(reqwest::header::WWW_AUTHENTICATE).and_then(|h| h.to_str().ok());
    let challenge = header
        .and_then(Challenge::parse)
        .ok_or_else(|| LoginError::Protocol("GET /v2/ answered 401 without an authentication challenge".into()))?;
    let authenticated = match challenge.scheme.as_str() {
        "basic" => client.get(base.clone()).basic_auth(user, Some(password)),
        "bearer" => {
            let token = fetch_token(client, &challenge, user, password).await?;
            client.get(base.clone()).bearer_auth(token)
        }
        other => return Err(LoginError::Protocol(format!("unsupported authentication scheme {other:?}"))),
    };
    let answer = send(authenticated).await?;
    match answer.status() {
        status if status.is_success() => Ok(()),
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => Err(refused(answer).await),
        _ => Err(unexpected("GET /v2/", answer).await),
    }
}

/// Exchanges the credentials for a token at the challenge's realm (the token protocol of the
/// distribution spec). No scope: logging in is not about any one repository.
async fn fetch_token(
    client: &reqwest::Client,
    challenge: &Challenge,
    user: &str,
    password: &str,
) -> Result<String, LoginError> {
    let realm =
        challenge.param("realm").ok_or_else(|| LoginError::Protocol("the Bearer challenge names no realm".into()))?;
    let mut url = Url::parse(realm).map_err(|e| LoginError::Protocol(format!("token realm {realm:?}: {e}")))?;
    {
        let mut query = url.query_pairs_mut();
        if let Some(service) = challenge.param("service") {
            query.append_pair("service", service);
        }
        query.append_pair("account", user);
        query.append_pair("client_id", "berth");
    }
    let answer = send(client.get(url).basic_auth(user, Some(password))).await?;
    match answer.status() {
        status if status.is_success() => {}
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => return Err(refused(answer).await),
        _ => return Err(unexpected("the token request", answer).await),
    }
    let body = answer.bytes().await.map_err(|e| LoginError::Transport(super::registry::describe_request_error(&e)))?;
    token_from(&body).ok_or_else(|| LoginError::Protocol("the token server's answer holds no token".into()))
}

#[derive(serde::Deserialize)]
struct TokenAnswer {
    token: Option<String>,
    access_token: Option<String>,
}

fn token_from(body: &[u8]) -> Option<String> {
    let answer: TokenAnswer = serde_json::from_slice(body).ok()?;
    answer.token.or(answer.access_token).filter(|t| !t.is_empty())
}

async fn send(request: reqwest::RequestBuilder) -> Result<reqwest::Response, LoginError> {
    request.send().await.map_err(|e| LoginError::Transport(super::registry::describe_request_error(&e)))
}

async fn refused(answer: reqwest::Response) -> LoginError {
    LoginError::Unauthorized(status_and_reason(answer).await)
}

async fn unexpected(what: &str, answer: reqwest::Response) -> LoginError {
    LoginError::Protocol(format!("{what}: {}", status_and_reason(answer).await))
}

/// "HTTP 401 Unauthorized: <the server's own message, if it sent one>".
async fn status_and_reason(answer: reqwest::Response) -> String {
    let status = answer.status();
    let body = answer.bytes().await.unwrap_or_default();
    match server_message(&body) {
        Some(message) => format!("HTTP {status}: {message}"),
        None => format!("HTTP {status}"),
    }
}

/// The message in a registry error body (`{"errors": [{"message": …}]}`) or a token server's
/// (`{"details": …}`, `{"error": …}`).
fn server_message(body: &[u8]) -> Option<String> {
    let value: serde_json::Value = serde_json::from_slice(body).ok()?;
    let text = value
        .pointer("/errors/0/message")
        .or_else(|| value.get("details"))
        .or_else(|| value.get("message"))
        .or_else(|| value.get("error"))?
        .as_str()?
        .trim();
    (!text.is_empty()).then(|| text.to_owned())
}

/// A `WWW-Authenticate` challenge: a scheme (lower-cased) and its `key="value"` parameters.
#[derive(Debug, PartialEq, Eq)]
struct Challenge {
    scheme: String,
    params: Vec<(String, String)>,
}

impl Challenge {
    fn parse(header: &str) -> Option<Challenge> {
        let header = header.trim();
        let (scheme, rest) = header.split_once(char::is_whitespace).unwrap_or((header, ""));
        if scheme.is_empty() {
            return None;
        }
        Some(Challenge { scheme: scheme.to_ascii_lowercase(), params: parse_params(rest) })
    }

    fn param(&self, name: &str) -> Option<&str> {
        self.params.iter().find(|(key, _)| key.eq_ignore_ascii_case(name)).map(|(_, value)| value.as_str())
    }
}

/// `key="value", key=token, …`; commas inside quotes (scopes list actions that way) stay.
fn parse_params(text: &str) -> Vec<(String, String)> {
    let mut params = Vec::new();
    let mut rest = text.trim_start_matches([' ', ',']);
    while let Some((key, after)) = rest.split_once('=') {
        let after = after.trim_start();
        let (value, remainder) = match after.strip_prefix('"') {
            Some(quoted) => unquote(quoted),
            None => {
                let end = after.find(',').unwrap_or(after.len());
                (after[..end].trim().to_owned(), &after[end..])
            }
        };
        params.push((key.trim().to_owned(), value));
        rest = remainder.trim_start_matches([' ', ',']);
    }
    params
}

/// The value of a quoted string (the opening quote already gone) and what follows it.
fn unquote(text: &str) -> (String, &str) {
    let mut value = String::new();
    let mut chars = text.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return (value, &text[i + 1..]),
            '\\' => value.extend(chars.next().map(|(_, escaped)| escaped)),
            _ => value.push(c),
        }
    }
    (value, "")
}

#[cfg(test)]
mod tests {
    use std::io::{BufRead, BufReader, Write};
    use std::net::TcpListener;
    use std::sync::{Arc, Mutex};

    use base64::Engine;

    use super::*;

    #[test]
    fn parses_challenges() {
        let c = Challenge::parse(
            r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:a/b:pull,push""#,
        )
        .unwrap();
        assert_eq!(c.scheme, "bearer");
        assert_eq!(c.param("realm"), Some("https://auth.docker.io/token"));
        assert_eq!(c.param("Service"), Some("registry.docker.io"));
        assert_eq!(c.param("scope"), Some("repository:a/b:pull,push"));
        let c = Challenge::parse(r#"Basic realm="my \"quoted\" realm", charset=UTF-8"#).unwrap();
        assert_eq!(c.scheme, "basic");
        assert_eq!(c.param("realm"), Some(r#"my "quoted" realm"#));
        assert_eq!(c.param("charset"), Some("UTF-8"));
        assert_eq!(Challenge::parse("Basic").unwrap().params, vec![]);
        assert_eq!(Challenge::parse("  "), None);
    }

    #[test]
    fn reads_tokens_and_server_messages() {
        assert_eq!(token_from(br#"{"token":"t1","access_token":"t2"}"#), Some("t1".into()));
        assert_eq!(token_from(br#"{"access_token":"t2"}"#), Some("t2".into()));
        assert_eq!(token_from(br#"{"token":""}"#), None);
        assert_eq!(token_from(b"not json"), None);
        let registry = br#"{"errors":[{"code":"UNAUTHORIZED","message":"authentication required","detail":null}]}"#;
        assert_eq!(server_message(registry), Some("authentication required".into()));
        assert_eq!(
            server_message(br#"{"details":"incorrect username or password"}"#),
            Some("incorrect username or password".into())
        );
        assert_eq!(server_message(b"<html>"), None);
    }

    /// A stand-in registry with a token server, speaking just enough HTTP for the Bearer flow
    /// (the htpasswd registry of the integration tests covers Basic): the token server takes
    /// alice/right, and /v2/ takes the token it hands out.
    fn bearer_registry() -> (String, Arc<Mutex<Vec<String>>>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (realm, log) = (format!("http://{addr}/token"), Arc::clone(&seen));
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { return };
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut request_line = String::new();
                reader.read_line(&mut request_line).unwrap();
                let mut authorization = String::new();
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap() == 0 || line.trim().is_empty() {
                        break;
                    }
                    if let Some((name, value)) = line.split_once(':')
                        && name.eq_ignore_ascii_case("authorization")
                    {
                        authorization = value.trim().to_owned();
                    }
                }
                let path = request_line.split_whitespace().nth(1).unwrap_or_default().to_owned();
                log.lock().unwrap().push(format!("{path} {authorization}"));
                let good_basic = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode("alice:right"));
                let (status, extra, body) = if path.starts_with("/token") {
                    if authorization == good_basic {
                        ("200 OK", String::new(), r#"{"token":"tok-123"}"#.to_owned())
                    } else {
                        ("401 Unauthorized", String::new(), r#"{"details":"incorrect username or password"}"#.into())
                    }
                } else if authorization == "Bearer tok-123" {
                    ("200 OK", String::new(), "{}".to_owned())
                } else {
                    let challenge = format!("WWW-Authenticate: Bearer realm=\"{realm}\",service=\"test-registry\"\r\n");
                    ("401 Unauthorized", challenge, r#"{"errors":[{"message":"authentication required"}]}"#.into())
                };
                let response = format!(
                    "HTTP/1.1 {status}\r\n{extra}Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = stream.write_all(response.as_bytes());
            }
        });
        (addr, seen)
    }

    fn run_probe(addr: &str, user: &str, password: &str) -> Result<(), LoginError> {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let base = Url::parse(&format!("http://{addr}/v2/")).unwrap();
        runtime.block_on(probe(&reqwest::Client::new(), &base, user, password))
    }

    #[test]
    fn bearer_login_gets_a_token_and_shows_it_to_the_registry() {
        let (addr, seen) = bearer_registry();
        run_probe(&addr, "alice", "right").unwrap();
        let seen = seen.lock().unwrap().clone();
        assert_eq!(seen.len(), 3, "{seen:?}");
        assert_eq!(seen[0], "/v2/ ");
        assert!(seen[1].starts_with("/token?service=test-registry&account=alice"), "{seen:?}");
        assert_eq!(seen[2], "/v2/ Bearer tok-123");
    }

    #[test]
    fn bearer_login_with_a_wrong_password_is_unauthorized() {
        let (addr, _) = bearer_registry();
        let err = run_probe(&addr, "alice", "wrong").unwrap_err();
        assert!(matches!(err, LoginError::Unauthorized(_)), "{err}");
        assert!(err.to_string().contains("incorrect username or password"), "{err}");
    }
}
