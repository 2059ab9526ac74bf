//! The registry token protocol (distribution spec, "Token Authentication"): ask `/v2/`
//! anonymously; a 401 carries a `WWW-Authenticate` challenge. `Basic` means: send the user and
//! password with every request. `Bearer realm=…,service=…` means: get a token from the realm,
//! naming the scopes wanted, with the credentials as Basic auth, and show the token instead.
//!
//! oci-client runs this flow itself for one repository and pull or push; berth runs it here
//! where it needs more: login (credentials actually sent and checked) and tokens for several
//! scopes at once (a cross-repository mount).

use reqwest::{StatusCode, Url};

use super::describe_request_error;
use super::scope::Scope;

/// Why a registry did not grant access. Each variant's text is the whole story (the HTTP
/// layer's causes are folded into it), so none returns a source.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("unauthorized: the registry refused the user name or password ({0})")]
    Unauthorized(String),
    #[error("{0}")]
    Transport(String),
    #[error("unexpected answer from the registry: {0}")]
    Protocol(String),
}

/// How requests to a registry are to be authenticated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Authorization {
    /// The registry asked for nothing.
    Anonymous,
    /// Send the credentials with every request.
    Basic,
    /// Show this token.
    Bearer(String),
}

/// Runs the challenge flow against the registry at `base` (its `/v2/` URL) for `scopes`.
pub async fn authorize(
    client: &reqwest::Client,
    base: &Url,
    credentials: Option<(&str, &str)>,
    scopes: &[Scope],
) -> Result<Authorization, TokenError> {
    let anonymous = send(client.get(base.clone())).await?;
    match anonymous.status() {
        status if status.is_success() => return Ok(Authorization::Anonymous),
        StatusCode::UNAUTHORIZED => {}
        _ => return Err(unexpected("GET /v2/", anonymous).await),
    }
    let header = anonymous.headers().get(reqwest::header::WWW_AUTHENTICATE).and_then(|h| h.to_str().ok());
    let challenge = header
        .and_then(Challenge::parse)
        .ok_or_else(|| TokenError::Protocol("GET /v2/ answered 401 without an authentication challenge".into()))?;
    match challenge.scheme.as_str() {
        "basic" => Ok(Authorization::Basic),
        "bearer" => Ok(Authorization::Bearer(fetch_token(client, &challenge, credentials, scopes).await?)),
        other => Err(TokenError::Protocol(format!("unsupported authentication scheme {other:?}"))),
    }
}

/// The token request for `challenge`: its realm with `service`, one `scope` per scope, and the
/// account the credentials name.
pub fn token_url(challenge: &Challenge, account: Option<&str>, scopes: &[Scope]) -> Result<Url, TokenError> {
    let realm =
        challenge.param("realm").ok_or_else(|| TokenError::Protocol("the Bearer challenge names no realm".into()))?;
    let mut url = Url::parse(realm).map_err(|e| TokenError::Protocol(format!("token realm {realm:?}: {e}")))?;
    {
        let mut query = url.query_pairs_mut();
        if let Some(service) = challenge.param("service") {
            query.append_pair("service", service);
        }
        for scope in scopes {
            query.append_pair("scope", &scope.to_string());
        }
        if let Some(account) = account {
            query.append_pair("account", account);
        }
        query.append_pair("client_id", "berth");
    }
    Ok(url)
}

/// Exchanges the credentials (or nothing: anonymous tokens for public repositories) for a
/// token at the challenge's realm.
async fn fetch_token(
    client: &reqwest::Client,
    challenge: &Challenge,
    credentials: Option<(&str, &str)>,
    scopes: &[Scope],
) -> Result<String, TokenError> {
    let url = token_url(challenge, credentials.map(|(user, _)| user), scopes)?;
    let request = match credentials {
        Some((user, password)) => client.get(url).basic_auth(user, Some(password)),
        None => client.get(url),
    };
    let answer = send(request).await?;
    match answer.status() {
        status if status.is_success() => {}
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => return Err(refused(answer).await),
        _ => return Err(unexpected("the token request", answer).await),
    }
    let body = answer.bytes().await.map_err(|e| TokenError::Transport(describe_request_error(&e)))?;
    token_from(&body).ok_or_else(|| TokenError::Protocol("the token server's answer holds no token".into()))
}

#[derive(serde::Deserialize)]
struct TokenAnswer {
    token: Option<String>,
    access_token: Option<String>,
}

pub(crate) fn token_from(body: &[u8]) -> Option<String> {
    let answer: TokenAnswer = serde_json::from_slice(body).ok()?;
    answer.token.or(answer.access_token).filter(|t| !t.is_empty())
}

pub(crate) async fn send(request: reqwest::RequestBuilder) -> Result<reqwest::Response, TokenError> {
    request.send().await.map_err(|e| TokenError::Transport(describe_request_error(&e)))
}

pub(crate) async fn refused(answer: reqwest::Response) -> TokenError {
    TokenError::Unauthorized(status_and_reason(answer).await)
}

pub(crate) async fn unexpected(what: &str, answer: reqwest::Response) -> TokenError {
    TokenError::Protocol(format!("{what}: {}", status_and_reason(answer).await))
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
pub struct Challenge {
    pub scheme: String,
    params: Vec<(String, String)>,
}

impl Challenge {
    pub fn parse(header: &str) -> Option<Challenge> {
        let header = header.trim();
        let (scheme, rest) = header.split_once(char::is_whitespace).unwrap_or((header, ""));
        if scheme.is_empty() {
            return None;
        }
        Some(Challenge { scheme: scheme.to_ascii_lowercase(), params: parse_params(rest) })
    }

    pub fn param(&self, name: &str) -> Option<&str> {
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

    #[test]
    fn token_requests_name_every_scope() {
        let challenge = Challenge::parse(r#"Bearer realm="https://auth.example/token",service="reg.example""#).unwrap();
        let mount = super::super::scope::Access::Mount { target: "me/app".into(), source: "library/alpine".into() };
        let url = token_url(&challenge, Some("alice"), &mount.scopes()).unwrap();
        let pairs: Vec<(String, String)> = url.query_pairs().map(|(k, v)| (k.into_owned(), v.into_owned())).collect();
        let expected: Vec<(String, String)> = [
            ("service", "reg.example"),
            ("scope", "repository:me/app:pull,push"),
            ("scope", "repository:library/alpine:pull"),
            ("account", "alice"),
            ("client_id", "berth"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        assert_eq!(pairs, expected);
        assert!(
            url.as_str().starts_with(
                "https://auth.example/token?service=reg.example&scope=repository%3Ame%2Fapp%3Apull%2Cpush&"
            )
        );
        let login = token_url(&challenge, Some("alice"), &[]).unwrap();
        assert_eq!(login.query(), Some("service=reg.example&account=alice&client_id=berth"));
        let no_realm = Challenge::parse("Bearer service=x").unwrap();
        assert!(matches!(token_url(&no_realm, None, &[]), Err(TokenError::Protocol(_))));
    }
}
