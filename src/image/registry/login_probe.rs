//! Checking a user name and password against a registry, as `docker login` does: ask `/v2/`
//! anonymously, then answer its challenge: Basic (send the credentials to `/v2/` itself) or
//! Bearer (get a token from the realm with them, then show the token to `/v2/`).
//!
//! oci-client cannot do this: for a Basic challenge it keeps the credentials without sending
//! them, so a wrong password would pass.

use reqwest::{StatusCode, Url};

use super::scope::Access;
use super::token::{self, Authorization, TokenError};
use crate::config::Settings;

#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    #[error(transparent)]
    Refused(#[from] TokenError),
    #[error("{0}")]
    Setup(String),
    #[error("starting the async runtime")]
    Runtime(#[source] std::io::Error),
}

impl LoginError {
    /// The registry said no to the user name or password (not: it could not be reached).
    pub fn is_unauthorized(&self) -> bool {
        matches!(self, LoginError::Refused(TokenError::Unauthorized(_)))
    }
}

/// Checks that `registry` accepts `user`/`password`. Ok too when the registry asks for no
/// credentials at all (there is nothing to check).
pub fn verify_credentials(settings: &Settings, registry: &str, user: &str, password: &str) -> Result<(), LoginError> {
    let base = super::api_base_url(settings, registry).map_err(LoginError::Setup)?;
    let client = super::http_client(settings, registry).map_err(LoginError::Setup)?;
    super::block_on(probe(&client, &base, user, password)).map_err(LoginError::Runtime)?
}

async fn probe(client: &reqwest::Client, base: &Url, user: &str, password: &str) -> Result<(), LoginError> {
    // No scope: logging in is not about any one repository.
    let scopes = Access::Registry.scopes();
    let authenticated = match token::authorize(client, base, Some((user, password)), &scopes).await? {
        Authorization::Anonymous => return Ok(()),
        Authorization::Basic => client.get(base.clone()).basic_auth(user, Some(password)),
        Authorization::Bearer(token) => client.get(base.clone()).bearer_auth(token),
    };
    let answer = token::send(authenticated).await?;
    match answer.status() {
        status if status.is_success() => Ok(()),
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => Err(token::refused(answer).await.into()),
        _ => Err(token::unexpected("GET /v2/", answer).await.into()),
    }
}

#[cfg(test)]
mod tests {
    use std::io::{BufRead, BufReader, Write};
    use std::net::TcpListener;
    use std::sync::{Arc, Mutex};

    use base64::Engine;

    use super::*;

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
        let base = Url::parse(&format!("http://{addr}/v2/")).unwrap();
        super::super::block_on(probe(&reqwest::Client::new(), &base, user, password)).unwrap()
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
        assert!(err.is_unauthorized(), "{err}");
        assert!(err.to_string().contains("incorrect username or password"), "{err}");
    }

    #[test]
    fn a_mount_token_is_asked_for_both_repositories_at_once() {
        let (addr, seen) = bearer_registry();
        let base = Url::parse(&format!("http://{addr}/v2/")).unwrap();
        let mount = Access::Mount { target: "me/app".into(), source: "library/busybox".into() };
        let client = reqwest::Client::new();
        let scopes = mount.scopes();
        let authorize = token::authorize(&client, &base, Some(("alice", "right")), &scopes);
        let granted = super::super::block_on(authorize).unwrap().unwrap();
        assert_eq!(granted, Authorization::Bearer("tok-123".into()));
        let seen = seen.lock().unwrap().clone();
        let scopes = "scope=repository%3Ame%2Fapp%3Apull%2Cpush&scope=repository%3Alibrary%2Fbusybox%3Apull";
        assert!(seen[1].starts_with(&format!("/token?service=test-registry&{scopes}&account=alice")), "{seen:?}");
    }
}
