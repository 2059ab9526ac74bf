//! Where the credentials for a registry come from, for every operation that talks to one (pull,
//! login's check of stored credentials, push): the `--authfile` the user named, or berth's
//! auth.json, then Docker's config.json and the credential helpers they name (see `auth`).

use std::path::{Path, PathBuf};

use super::auth::{self, AuthError, Credentials};

/// The user and password to send to one registry.
#[derive(Clone, PartialEq, Eq)]
pub struct Basic {
    pub username: String,
    pub password: String,
}

impl std::fmt::Debug for Basic {
    /// Never the password, not even in a debug print.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Basic").field("username", &self.username).finish_non_exhaustive()
    }
}

/// What a lookup found: credentials, none, or a failure to read them. A failure is not fatal to
/// the operation (a public image pulls without credentials), so it is handed back beside the
/// outcome for the caller to report.
#[derive(Debug)]
pub enum Lookup {
    Found(Basic),
    None,
    Unreadable(AuthError),
}

impl Lookup {
    pub fn basic(self) -> Option<Basic> {
        match self {
            Lookup::Found(basic) => Some(basic),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct CredentialSource {
    authfile: Option<PathBuf>,
}

impl CredentialSource {
    /// The default files, or only `authfile` when one is given.
    pub fn new(authfile: Option<&Path>) -> CredentialSource {
        CredentialSource { authfile: authfile.map(Path::to_owned) }
    }

    /// The credentials for `registry`, with where they were found.
    pub fn find(&self, registry: &str) -> Result<Option<Credentials>, AuthError> {
        auth::find_credentials(registry, self.authfile.as_deref())
    }

    /// The user and password to send to `registry`.
    pub fn lookup(&self, registry: &str) -> Lookup {
        match self.find(registry) {
            Ok(Some(found)) => {
                let (username, password) = found.into_basic();
                Lookup::Found(Basic { username, password })
            }
            Ok(None) => Lookup::None,
            Err(e) => Lookup::Unreadable(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_credentials_in_the_named_file_only() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("auth.json");
        std::fs::write(&path, r#"{"auths": {"reg.example": {"auth": "YWxpY2U6cHc="}}}"#).unwrap();
        let source = CredentialSource::new(Some(&path));
        let found = source.lookup("reg.example").basic().unwrap();
        assert_eq!((found.username.as_str(), found.password.as_str()), ("alice", "pw"));
        assert!(!format!("{found:?}").contains("pw"));
        assert!(matches!(source.lookup("other.example"), Lookup::None));
        std::fs::write(&path, "{broken").unwrap();
        assert!(matches!(source.lookup("reg.example"), Lookup::Unreadable(AuthError::Parse { .. })));
    }
}
