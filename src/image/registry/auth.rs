//! Registry credentials, kept the way Docker and Podman keep them.
//!
//! Lookup order: the `--authfile` the user named, if any; otherwise berth's own auth file
//! (`$REGISTRY_AUTH_FILE`, else `${XDG_CONFIG_HOME:-~/.config}/berth/auth.json`), then Docker's
//! (`$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`). Within one file:
//! `credHelpers[registry]`, then `auths[registry]`, then the global `credsStore` helper.
//!
//! berth writes only its own file, in the format both tools read:
//! `{"auths": {"REGISTRY": {"auth": base64("user:password")}}}`.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use base64::Engine;
use serde::Deserialize;
use serde_json::{Map, Value};

use super::reference::DOCKER_HUB;
use crate::store::write_file_atomically_with_mode;

/// The key Docker files Docker Hub's credentials under.
const DOCKER_HUB_KEY: &str = "https://index.docker.io/v1/";
/// The user name Docker pairs with an identity token.
const TOKEN_USER: &str = "<token>";

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    // The causes are part of the messages, not `source()`s, so each shows once.
    #[error("{action} {}: {error}", path.display())]
    Io { action: &'static str, path: PathBuf, error: io::Error },
    #[error("{}: not a valid credentials file: {error}", path.display())]
    Parse { path: PathBuf, error: serde_json::Error },
    #[error("{}: the entry for {key:?} is invalid: {detail}", path.display())]
    BadEntry { path: PathBuf, key: String, detail: String },
    #[error("credential helper docker-credential-{helper}: {detail}")]
    Helper { helper: String, detail: String },
    #[error("no place for berth's auth file: set HOME, XDG_CONFIG_HOME or REGISTRY_AUTH_FILE")]
    NoAuthFile,
}

impl AuthError {
    fn io(action: &'static str, path: &Path, error: io::Error) -> AuthError {
        AuthError::Io { action, path: path.to_owned(), error }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Secret {
    Password(String),
    /// A refresh token handed out by the registry in place of the password.
    IdentityToken(String),
}

/// Credentials found for a registry, and where they came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    /// Empty when only an identity token is known.
    pub username: String,
    pub secret: Secret,
    /// The file that held them, or named the helper that did.
    pub file: PathBuf,
    /// The credential helper that produced them, if one did.
    pub helper: Option<String>,
}

impl Credentials {
    /// The user and password to authenticate with; an identity token goes as the password of
    /// the user `<token>`, as Docker sends it.
    pub fn into_basic(self) -> (String, String) {
        match self.secret {
            Secret::Password(password) => (self.username, password),
            Secret::IdentityToken(token) => (TOKEN_USER.to_owned(), token),
        }
    }
}

/// The user and password for `registry`, from `authfile` if given, else from berth's and then
/// Docker's credential files. Ok(None) when none holds any. (The tests' short form of
/// [`find_credentials`]; berth itself asks a `CredentialSource`.)
#[cfg(test)]
fn credentials_for(registry: &str, authfile: Option<&Path>) -> Result<Option<(String, String)>, AuthError> {
    Ok(find_credentials(registry, authfile)?.map(Credentials::into_basic))
}

/// Like [`credentials_for`], but says where the credentials were found.
pub fn find_credentials(registry: &str, authfile: Option<&Path>) -> Result<Option<Credentials>, AuthError> {
    find_credentials_in_env(&Env::process(), registry, authfile)
}

/// The environment variables credential lookups read: the process's, or a test's own.
struct Env<'a>(&'a dyn Fn(&str) -> Option<OsString>);

impl Env<'_> {
    fn process() -> Env<'static> {
        Env(&|name| std::env::var_os(name))
    }

    fn get(&self, name: &str) -> Option<OsString> {
        (self.0)(name).filter(|v| !v.is_empty())
    }
}

fn find_credentials_in_env(
    env: &Env,
    registry: &str,
    authfile: Option<&Path>,
) -> Result<Option<Credentials>, AuthError> {
    let registry = normalize_registry(registry);
    for path in lookup_files(env, authfile) {
        let Some(file) = read_auth_file(&path)? else { continue };
        if let Some(found) = credentials_in(env, &file, &path, &registry)? {
            return Ok(Some(found));
        }
    }
    Ok(None)
}

/// berth's own auth file: `$REGISTRY_AUTH_FILE`, else `${XDG_CONFIG_HOME:-~/.config}/berth/auth.json`.
pub fn default_auth_file() -> Result<PathBuf, AuthError> {
    auth_file_in_env(&Env::process())
}

fn auth_file_in_env(env: &Env) -> Result<PathBuf, AuthError> {
    if let Some(file) = env.get("REGISTRY_AUTH_FILE") {
        return Ok(PathBuf::from(file));
    }
    let config = env
        .get("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .or_else(|| env.get("HOME").map(|home| Path::new(&home).join(".config")))
        .ok_or(AuthError::NoAuthFile)?;
    Ok(config.join("berth/auth.json"))
}

fn docker_config_file(env: &Env) -> Option<PathBuf> {
    if let Some(dir) = env.get("DOCKER_CONFIG") {
        return Some(Path::new(&dir).join("config.json"));
    }
    env.get("HOME").map(|home| Path::new(&home).join(".docker/config.json"))
}

fn lookup_files(env: &Env, authfile: Option<&Path>) -> Vec<PathBuf> {
    match authfile {
        Some(path) => vec![path.to_owned()],
        None => auth_file_in_env(env).ok().into_iter().chain(docker_config_file(env)).collect(),
    }
}

/// The registry host a server name stands for: URLs lose their scheme and path, a trailing
/// `/v1/` or `/v2/` goes, and Docker Hub's other names become `docker.io`.
///
/// A key naming a repository without a scheme (Podman's `quay.io/org/repo`) keeps its path: such
/// credentials belong to that repository only, so they never match a bare registry.
pub fn normalize_registry(server: &str) -> String {
    let server = server.trim();
    let host = match server.strip_prefix("https://").or_else(|| server.strip_prefix("http://")) {
        Some(rest) => rest.split('/').next().unwrap_or(rest),
        None => {
            ["/v1/", "/v2/", "/v1", "/v2", "/"].iter().find_map(|suffix| server.strip_suffix(suffix)).unwrap_or(server)
        }
    };
    match host {
        "index.docker.io" | "registry-1.docker.io" | "registry.hub.docker.com" => DOCKER_HUB.to_owned(),
        other => other.to_owned(),
    }
}

#[derive(Deserialize, Debug, Default)]
struct AuthFile {
    #[serde(default)]
    auths: BTreeMap<String, AuthEntry>,
    #[serde(default, rename = "credHelpers")]
    cred_helpers: BTreeMap<String, String>,
    #[serde(default, rename = "credsStore")]
    creds_store: Option<String>,
}

#[derive(Deserialize, Debug, Default)]
struct AuthEntry {
    #[serde(default)]
    auth: Option<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    identitytoken: Option<String>,
}

/// Ok(None) when the file does not exist; an empty file holds no credentials.
fn read_auth_file(path: &Path) -> Result<Option<AuthFile>, AuthError> {
    let text = match fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(AuthError::io("reading", path, e)),
    };
    if text.trim().is_empty() {
        return Ok(Some(AuthFile::default()));
    }
    serde_json::from_str(&text).map(Some).map_err(|error| AuthError::Parse { path: path.to_owned(), error })
}

fn credentials_in(env: &Env, file: &AuthFile, path: &Path, registry: &str) -> Result<Option<Credentials>, AuthError> {
    let found = |username: String, secret: Secret, helper: Option<&str>| Credentials {
        username,
        secret,
        file: path.to_owned(),
        helper: helper.map(str::to_owned),
    };
    if let Some((_, helper)) = find_entry(&file.cred_helpers, registry) {
        return Ok(ask_helper(env, helper, registry)?.map(|(user, secret)| found(user, secret, Some(helper))));
    }
    if let Some((key, entry)) = find_entry(&file.auths, registry) {
        let bad_entry = |detail| AuthError::BadEntry { path: path.to_owned(), key: key.to_owned(), detail };
        if let Some((user, secret)) = entry_credentials(entry).map_err(bad_entry)? {
            return Ok(Some(found(user, secret, None)));
        }
    }
    match &file.creds_store {
        Some(helper) if !helper.is_empty() => {
            Ok(ask_helper(env, helper, registry)?.map(|(user, secret)| found(user, secret, Some(helper))))
        }
        _ => Ok(None),
    }
}

/// The entry filed under `registry` itself, else under any key naming the same registry
/// (`https://index.docker.io/v1/` for `docker.io`, `http://host:port`, …).
fn find_entry<'a, T>(map: &'a BTreeMap<String, T>, registry: &str) -> Option<(&'a str, &'a T)> {
    map.get_key_value(registry)
        .or_else(|| map.iter().find(|(key, _)| normalize_registry(key) == registry))
        .map(|(key, value)| (key.as_str(), value))
}

/// Ok(None) for an entry without credentials (Docker leaves `{}` behind when a helper holds them).
fn entry_credentials(entry: &AuthEntry) -> Result<Option<(String, Secret)>, String> {
    let (user, password) = match entry.auth.as_deref().filter(|a| !a.is_empty()) {
        Some(auth) => decode_auth(auth)?,
        None => (entry.username.clone().unwrap_or_default(), entry.password.clone().unwrap_or_default()),
    };
    if let Some(token) = entry.identitytoken.as_deref().filter(|t| !t.is_empty()) {
        return Ok(Some((user, Secret::IdentityToken(token.to_owned()))));
    }
    if user.is_empty() && password.is_empty() {
        return Ok(None);
    }
    Ok(Some((user, Secret::Password(password))))
}

fn decode_auth(auth: &str) -> Result<(String, String), String> {
    let auth = auth.trim();
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(auth)
        .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(auth))
        .map_err(|e| format!("\"auth\" is not base64: {e}"))?;
    let text = String::from_utf8(bytes).map_err(|_| "\"auth\" is not UTF-8 text".to_owned())?;
    let (user, password) = text.split_once(':').ok_or("\"auth\" does not hold \"user:password\"")?;
    Ok((user.to_owned(), password.to_owned()))
}

fn encode_auth(user: &str, password: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
}

/// The server names to ask a helper about: Docker files Docker Hub under its v1 URL, Podman
/// under `docker.io`.
fn helper_server_urls(registry: &str) -> Vec<&str> {
    if registry == DOCKER_HUB { vec![DOCKER_HUB_KEY, DOCKER_HUB] } else { vec![registry] }
}

fn ask_helper(env: &Env, helper: &str, registry: &str) -> Result<Option<(String, Secret)>, AuthError> {
    for server_url in helper_server_urls(registry) {
        if let Some(found) = run_helper_get(env, helper, server_url)? {
            return Ok(Some(found));
        }
    }
    Ok(None)
}

#[derive(Deserialize)]
struct HelperAnswer {
    #[serde(rename = "Username", default)]
    username: String,
    #[serde(rename = "Secret", default)]
    secret: String,
}

/// Runs `docker-credential-HELPER get` with the server URL on stdin (the credential helper
/// protocol). Ok(None) when the helper has no credentials for it.
fn run_helper_get(env: &Env, helper: &str, server_url: &str) -> Result<Option<(String, Secret)>, AuthError> {
    let program = format!("docker-credential-{helper}");
    let helper_error = |detail: String| AuthError::Helper { helper: helper.to_owned(), detail };
    let mut command = Command::new(&program);
    // A PATH set on the command is also where the program is looked up.
    if let Some(path) = env.get("PATH") {
        command.env("PATH", path);
    }
    let mut child =
        command.arg("get").stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().map_err(
            |e| match e.kind() {
                io::ErrorKind::NotFound => helper_error(format!("{program} is not installed (not found in PATH)")),
                _ => helper_error(format!("starting {program}: {e}")),
            },
        )?;
    // A helper that exits without reading its input closes the pipe; its exit status says more.
    let _ = child.stdin.take().map(|mut stdin| stdin.write_all(server_url.as_bytes()));
    let output = child.wait_with_output().map_err(|e| helper_error(format!("running {program}: {e}")))?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let message = if stdout.trim().is_empty() { stderr.trim() } else { stdout.trim() };
        if message.to_lowercase().contains("credentials not found") {
            return Ok(None);
        }
        return Err(helper_error(format!("get {server_url}: {} ({})", message, output.status)));
    }
    let answer: HelperAnswer = serde_json::from_str(stdout.trim())
        .map_err(|e| helper_error(format!("get {server_url}: unreadable answer: {e}")))?;
    if answer.username.is_empty() && answer.secret.is_empty() {
        return Ok(None);
    }
    if answer.username == TOKEN_USER {
        return Ok(Some((String::new(), Secret::IdentityToken(answer.secret))));
    }
    Ok(Some((answer.username, Secret::Password(answer.secret))))
}

/// Files `user`/`password` for `registry` in `authfile` (default: berth's auth file), keeping
/// every other entry and key. Returns the file written.
pub fn store_credentials(
    authfile: Option<&Path>,
    registry: &str,
    user: &str,
    password: &str,
) -> Result<PathBuf, AuthError> {
    let path = target_file(authfile)?;
    let registry = normalize_registry(registry);
    update_auth_file(&path, |document| {
        let auths = auths_of(document);
        auths.insert(registry, serde_json::json!({ "auth": encode_auth(user, password) }));
        true
    })?;
    Ok(path)
}

/// Removes every entry for `registry` from `authfile` (default: berth's auth file). Returns
/// whether there was one.
pub fn remove_credentials(authfile: Option<&Path>, registry: &str) -> Result<bool, AuthError> {
    let path = target_file(authfile)?;
    if !exists(&path)? {
        return Ok(false);
    }
    let registry = normalize_registry(registry);
    update_auth_file(&path, |document| {
        let auths = auths_of(document);
        let before = auths.len();
        auths.retain(|key, _| key != &registry && normalize_registry(key) != registry);
        auths.len() != before
    })
}

/// Removes all entries from `authfile` (default: berth's auth file), keeping its other keys.
/// Returns the registries that had one.
pub fn remove_all_credentials(authfile: Option<&Path>) -> Result<Vec<String>, AuthError> {
    let path = target_file(authfile)?;
    let mut removed = Vec::new();
    if !exists(&path)? {
        return Ok(removed);
    }
    update_auth_file(&path, |document| {
        removed = std::mem::take(auths_of(document)).into_iter().map(|(key, _)| key).collect();
        !removed.is_empty()
    })?;
    Ok(removed)
}

/// Docker's config file, when it holds credentials for `registry`: an `auths` entry with
/// some, or a credential helper named for it (not run). berth never changes that file, so
/// `logout` points it out.
pub fn docker_config_holding(registry: &str) -> Option<PathBuf> {
    docker_config_holding_in_env(&Env::process(), registry)
}

fn docker_config_holding_in_env(env: &Env, registry: &str) -> Option<PathBuf> {
    let path = docker_config_file(env)?;
    let file = read_auth_file(&path).ok()??;
    let registry = normalize_registry(registry);
    let in_helper = find_entry(&file.cred_helpers, &registry).is_some();
    let in_auths =
        find_entry(&file.auths, &registry).is_some_and(|(_, e)| entry_credentials(e).is_ok_and(|c| c.is_some()));
    (in_helper || in_auths).then_some(path)
}

/// Removal leaves a missing file (and its directory) missing.
fn exists(path: &Path) -> Result<bool, AuthError> {
    path.try_exists().map_err(|e| AuthError::io("reading", path, e))
}

fn target_file(authfile: Option<&Path>) -> Result<PathBuf, AuthError> {
    authfile.map_or_else(default_auth_file, |path| Ok(path.to_owned()))
}

/// The `auths` object of a document, made one if it is missing or not an object.
fn auths_of(document: &mut Map<String, Value>) -> &mut Map<String, Value> {
    let auths = document.entry("auths").or_insert_with(|| Value::Object(Map::new()));
    if !auths.is_object() {
        *auths = Value::Object(Map::new());
    }
    auths.as_object_mut().expect("made an object above")
}

/// Reads the file as a JSON object (empty if missing), lets `change` edit it, and writes it
/// back if `change` says it changed something. Concurrent updates are serialised, so two
/// logins never lose each other's entry.
fn update_auth_file(path: &Path, change: impl FnOnce(&mut Map<String, Value>) -> bool) -> Result<bool, AuthError> {
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    fs::DirBuilder::new().recursive(true).mode(0o700).create(dir).map_err(|e| AuthError::io("creating", dir, e))?;
    let _lock = lock_directory(dir)?;
    let mut document = read_document(path)?;
    if !change(&mut document) {
        return Ok(false);
    }
    let mut bytes = serde_json::to_vec_pretty(&Value::Object(document))
        .map_err(|error| AuthError::Parse { path: path.to_owned(), error })?;
    bytes.push(b'\n');
    write_private_atomically(path, &bytes)?;
    Ok(true)
}

/// Locks the directory holding the file (flock works on directories too), so no lock file is
/// left next to the user's credentials.
fn lock_directory(dir: &Path) -> Result<File, AuthError> {
    let handle = File::open(dir).map_err(|e| AuthError::io("opening", dir, e))?;
    handle.lock().map_err(|e| AuthError::io("locking", dir, e))?;
    Ok(handle)
}

fn read_document(path: &Path) -> Result<Map<String, Value>, AuthError> {
    let mut text = String::new();
    match File::open(path) {
        Ok(mut f) => f.read_to_string(&mut text).map_err(|e| AuthError::io("reading", path, e))?,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Map::new()),
        Err(e) => return Err(AuthError::io("reading", path, e)),
    };
    if text.trim().is_empty() {
        return Ok(Map::new());
    }
    serde_json::from_str(&text).map_err(|error| AuthError::Parse { path: path.to_owned(), error })
}

/// Writes through a temporary file that is private (0600) from its creation, so the secrets
/// are never readable by others, not even for a moment.
fn write_private_atomically(path: &Path, bytes: &[u8]) -> Result<(), AuthError> {
    write_file_atomically_with_mode(path, bytes, 0o600).map_err(|e| AuthError::io("writing", path, e))
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let path = dir.join(name);
        fs::write(&path, text).unwrap();
        path
    }

    fn basic(found: Option<Credentials>) -> Option<(String, String)> {
        found.map(Credentials::into_basic)
    }

    fn pair(user: &str, password: &str) -> Option<(String, String)> {
        Some((user.to_owned(), password.to_owned()))
    }

    #[test]
    fn normalizes_server_names() {
        assert_eq!(normalize_registry("https://index.docker.io/v1/"), "docker.io");
        assert_eq!(normalize_registry("index.docker.io"), "docker.io");
        assert_eq!(normalize_registry("registry-1.docker.io"), "docker.io");
        assert_eq!(normalize_registry("docker.io"), "docker.io");
        assert_eq!(normalize_registry("http://localhost:5000"), "localhost:5000");
        assert_eq!(normalize_registry("https://reg.example:443/v2/"), "reg.example:443");
        assert_eq!(normalize_registry("reg.example/v1/"), "reg.example");
        assert_eq!(normalize_registry("reg.example/"), "reg.example");
        assert_eq!(normalize_registry(" quay.io "), "quay.io");
        assert_eq!(normalize_registry("quay.io/org/repo"), "quay.io/org/repo");
    }

    #[test]
    fn reads_podman_auth_json() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(
            dir.path(),
            "auth.json",
            r#"{"auths": {"localhost:5000": {"auth": "YWxpY2U6czNjcjN0OndpdGg6Y29sb25z"},
                          "quay.io/org/repo": {"auth": "Ym9iOnB3"}}}"#,
        );
        assert_eq!(credentials_for("localhost:5000", Some(&path)).unwrap(), pair("alice", "s3cr3t:with:colons"));
        assert_eq!(credentials_for("quay.io", Some(&path)).unwrap(), None);
        assert_eq!(credentials_for("other.example", Some(&path)).unwrap(), None);
    }

    #[test]
    fn reads_docker_config_json_with_url_keys() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(
            dir.path(),
            "config.json",
            r#"{"auths": {"https://index.docker.io/v1/": {"auth": "aHViOmh1YnB3"},
                          "http://reg.example:5000": {"username": "u", "password": "p"}},
                "psFormat": "table {{.ID}}"}"#,
        );
        let found = find_credentials("docker.io", Some(&path)).unwrap().unwrap();
        assert_eq!(found.file, path);
        assert_eq!(found.helper, None);
        assert_eq!(found.into_basic(), ("hub".to_owned(), "hubpw".to_owned()));
        assert_eq!(credentials_for("index.docker.io", Some(&path)).unwrap(), pair("hub", "hubpw"));
        assert_eq!(credentials_for("reg.example:5000", Some(&path)).unwrap(), pair("u", "p"));
    }

    #[test]
    fn an_exact_key_wins_over_a_normalized_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(
            dir.path(),
            "auth.json",
            r#"{"auths": {"http://reg.example": {"auth": "b2xkOm9sZA=="}, "reg.example": {"auth": "bmV3Om5ldw=="}}}"#,
        );
        assert_eq!(credentials_for("reg.example", Some(&path)).unwrap(), pair("new", "new"));
    }

    #[test]
    fn identity_tokens_go_as_the_password_of_user_token() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(
            dir.path(),
            "config.json",
            r#"{"auths": {"reg.example": {"auth": "YWxpY2U6", "identitytoken": "refresh-me"}}}"#,
        );
        let found = find_credentials("reg.example", Some(&path)).unwrap().unwrap();
        assert_eq!(found.username, "alice");
        assert_eq!(found.secret, Secret::IdentityToken("refresh-me".into()));
        assert_eq!(found.into_basic(), ("<token>".to_owned(), "refresh-me".to_owned()));
    }

    #[test]
    fn empty_entries_and_empty_files_hold_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), "config.json", r#"{"auths": {"reg.example": {}}}"#);
        assert_eq!(credentials_for("reg.example", Some(&path)).unwrap(), None);
        let empty = write(dir.path(), "empty.json", "\n");
        assert_eq!(credentials_for("reg.example", Some(&empty)).unwrap(), None);
        assert_eq!(credentials_for("reg.example", Some(&dir.path().join("missing.json"))).unwrap(), None);
    }

    #[test]
    fn malformed_files_and_entries_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), "bad.json", "{not json");
        assert!(matches!(credentials_for("reg.example", Some(&path)), Err(AuthError::Parse { .. })));
        let path = write(dir.path(), "entry.json", r#"{"auths": {"reg.example": {"auth": "!!!"}}}"#);
        let err = credentials_for("reg.example", Some(&path)).unwrap_err();
        assert!(matches!(err, AuthError::BadEntry { ref key, .. } if key == "reg.example"), "{err}");
        let path = write(dir.path(), "colon.json", r#"{"auths": {"reg.example": {"auth": "bm9jb2xvbg=="}}}"#);
        assert!(matches!(credentials_for("reg.example", Some(&path)), Err(AuthError::BadEntry { .. })));
    }

    #[test]
    fn decodes_auth_without_padding() {
        assert_eq!(decode_auth("YTpi").unwrap(), ("a".to_owned(), "b".to_owned()));
        assert_eq!(decode_auth("YTpiYw").unwrap(), ("a".to_owned(), "bc".to_owned()));
    }

    #[test]
    fn store_writes_a_private_docker_compatible_file_and_keeps_other_keys() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("new/sub/auth.json");
        assert_eq!(store_credentials(Some(&path), "localhost:5000", "alice", "pw").unwrap(), path);
        assert_eq!(fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        assert_eq!(fs::metadata(path.parent().unwrap()).unwrap().permissions().mode() & 0o777, 0o700);
        let written: Value = serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
        assert_eq!(written, serde_json::json!({"auths": {"localhost:5000": {"auth": encode_auth("alice", "pw")}}}));

        fs::write(
            &path,
            r#"{"auths": {"other.example": {"auth": "eDp5", "email": "x@y"}, "docker.io": {"auth": "b2xkOm9sZA=="}},
                "credHelpers": {"gcr.io": "gcloud"}, "unknownKey": [1, 2]}"#,
        )
        .unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        store_credentials(Some(&path), "https://index.docker.io/v1/", "bob", "new").unwrap();
        assert_eq!(fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        let written: Value = serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
        assert_eq!(
            written,
            serde_json::json!({
                "auths": {"other.example": {"auth": "eDp5", "email": "x@y"}, "docker.io": {"auth": encode_auth("bob", "new")}},
                "credHelpers": {"gcr.io": "gcloud"},
                "unknownKey": [1, 2]
            })
        );
        let leftovers: Vec<_> = fs::read_dir(path.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.contains(".tmp-"))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
    }

    #[test]
    fn remove_drops_every_key_for_the_registry_and_only_those() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(
            dir.path(),
            "auth.json",
            r#"{"auths": {"reg.example": {"auth": "YTpi"}, "https://reg.example/v1/": {"auth": "YTpi"},
                          "keep.example": {"auth": "YTpi"}}, "other": true}"#,
        );
        assert!(remove_credentials(Some(&path), "reg.example").unwrap());
        let written: Value = serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
        assert_eq!(written, serde_json::json!({"auths": {"keep.example": {"auth": "YTpi"}}, "other": true}));
        assert!(!remove_credentials(Some(&path), "reg.example").unwrap());
        let missing = dir.path().join("missing/auth.json");
        assert!(!remove_credentials(Some(&missing), "reg.example").unwrap());
        assert_eq!(remove_all_credentials(Some(&missing)).unwrap(), Vec::<String>::new());
        assert!(!missing.parent().unwrap().exists());

        assert_eq!(remove_all_credentials(Some(&path)).unwrap(), vec!["keep.example".to_owned()]);
        let written: Value = serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
        assert_eq!(written, serde_json::json!({"auths": {}, "other": true}));
    }

    /// Credential helpers are external programs; a stand-in one records what it was asked and
    /// answers like the real ones do. It is found through the PATH of the test's own `Env`.
    mod helpers {
        use std::collections::HashMap;

        use super::*;

        const FAKE_HELPER: &str = r#"#!/bin/sh
[ "$1" = get ] || { echo "unexpected command $1" >&2; exit 3; }
server=$(cat)
printf '%s\n' "$server" >> "$(dirname "$0")/asked"
case "$server" in
  https://index.docker.io/v1/) printf '{"ServerURL":"%s","Username":"hubuser","Secret":"hubpw"}' "$server" ;;
  reg.example) printf '{"ServerURL":"%s","Username":"<token>","Secret":"tok"}' "$server" ;;
  broken.example) echo "keychain locked" >&2; exit 1 ;;
  *) echo "credentials not found in native keychain"; exit 1 ;;
esac
"#;

        struct Fixture {
            dir: tempfile::TempDir,
            vars: HashMap<&'static str, OsString>,
        }

        impl Fixture {
            fn new() -> Fixture {
                let dir = tempfile::tempdir().unwrap();
                let helper = write(dir.path(), "docker-credential-test", FAKE_HELPER);
                fs::set_permissions(&helper, fs::Permissions::from_mode(0o755)).unwrap();
                let mut path = dir.path().as_os_str().to_owned();
                path.push(":");
                path.push(std::env::var_os("PATH").unwrap_or_default());
                Fixture { dir, vars: HashMap::from([("PATH", path)]) }
            }

            fn path(&self) -> &Path {
                self.dir.path()
            }

            fn find(&self, registry: &str, authfile: Option<&Path>) -> Result<Option<Credentials>, AuthError> {
                let lookup = |name: &str| self.vars.get(name).cloned();
                find_credentials_in_env(&Env(&lookup), registry, authfile)
            }

            fn basic(&self, registry: &str, authfile: Option<&Path>) -> Result<Option<(String, String)>, AuthError> {
                self.find(registry, authfile).map(basic)
            }

            fn asked(&self) -> Vec<String> {
                let text = fs::read_to_string(self.path().join("asked")).unwrap_or_default();
                text.lines().map(str::to_owned).collect()
            }
        }

        #[test]
        fn cred_helpers_answer_for_their_registry() {
            let fx = Fixture::new();
            let path = write(
                fx.path(),
                "config.json",
                r#"{"credHelpers": {"docker.io": "test", "reg.example": "test"},
                    "auths": {"docker.io": {"auth": "bm90OnVzZWQ="}}}"#,
            );
            let found = fx.find("docker.io", Some(&path)).unwrap().unwrap();
            assert_eq!(found.helper.as_deref(), Some("test"));
            assert_eq!(found.into_basic(), ("hubuser".to_owned(), "hubpw".to_owned()));
            assert_eq!(fx.asked(), ["https://index.docker.io/v1/"]);
            let found = fx.find("reg.example", Some(&path)).unwrap().unwrap();
            assert_eq!(found.secret, Secret::IdentityToken("tok".into()));
            assert_eq!(found.into_basic(), ("<token>".to_owned(), "tok".to_owned()));
        }

        #[test]
        fn creds_store_comes_after_auths() {
            let fx = Fixture::new();
            let path = write(
                fx.path(),
                "config.json",
                r#"{"credsStore": "test", "auths": {"https://index.docker.io/v1/": {}, "own.example": {"auth": "bzpw"}}}"#,
            );
            assert_eq!(fx.basic("own.example", Some(&path)).unwrap(), pair("o", "p"));
            assert!(fx.asked().is_empty());
            assert_eq!(fx.basic("docker.io", Some(&path)).unwrap(), pair("hubuser", "hubpw"));
            assert_eq!(fx.basic("unknown.example", Some(&path)).unwrap(), None);
            assert_eq!(fx.asked(), ["https://index.docker.io/v1/", "unknown.example"]);
        }

        #[test]
        fn helper_failures_are_errors() {
            let fx = Fixture::new();
            let path =
                write(fx.path(), "config.json", r#"{"credHelpers": {"broken.example": "test", "x.example": "nope"}}"#);
            let err = fx.find("broken.example", Some(&path)).unwrap_err();
            assert!(err.to_string().contains("keychain locked"), "{err}");
            let err = fx.find("x.example", Some(&path)).unwrap_err();
            assert!(err.to_string().contains("docker-credential-nope is not installed"), "{err}");
        }

        #[test]
        fn default_files_are_berths_then_dockers() {
            let mut fx = Fixture::new();
            let berth = fx.path().join("xdg/berth/auth.json");
            let docker = fx.path().join("dockercfg/config.json");
            fs::create_dir_all(berth.parent().unwrap()).unwrap();
            fs::create_dir_all(docker.parent().unwrap()).unwrap();
            fs::write(&berth, r#"{"auths": {"both.example": {"auth": "YmVydGg6MQ=="}}}"#).unwrap();
            fs::write(
                &docker,
                r#"{"auths": {"both.example": {"auth": "ZG9ja2VyOjI="}, "docker.example": {"auth": "ZG9ja2VyOjI="}},
                    "credsStore": "test"}"#,
            )
            .unwrap();
            fx.vars.insert("XDG_CONFIG_HOME", fx.path().join("xdg").into());
            fx.vars.insert("DOCKER_CONFIG", fx.path().join("dockercfg").into());
            assert_eq!(fx.basic("both.example", None).unwrap(), pair("berth", "1"));
            let found = fx.find("docker.example", None).unwrap().unwrap();
            assert_eq!((found.file.as_path(), found.username.as_str()), (docker.as_path(), "docker"));
            assert_eq!(fx.basic("docker.io", None).unwrap(), pair("hubuser", "hubpw"));
            assert_eq!(fx.basic("none.example", None).unwrap(), None);
            // The --authfile the user names is the only file consulted.
            assert_eq!(fx.basic("docker.example", Some(&berth)).unwrap(), None);
        }

        #[test]
        fn points_out_dockers_file_without_running_helpers() {
            let mut fx = Fixture::new();
            fs::write(
                fx.path().join("config.json"),
                r#"{"auths": {"https://index.docker.io/v1/": {"auth": "YTpi"}, "empty.example": {}},
                    "credHelpers": {"helped.example": "test"}}"#,
            )
            .unwrap();
            fx.vars.insert("DOCKER_CONFIG", fx.path().into());
            let holding = |registry| {
                let lookup = |name: &str| fx.vars.get(name).cloned();
                docker_config_holding_in_env(&Env(&lookup), registry)
            };
            assert_eq!(holding("docker.io"), Some(fx.path().join("config.json")));
            assert_eq!(holding("helped.example"), Some(fx.path().join("config.json")));
            assert_eq!(holding("empty.example"), None);
            assert_eq!(holding("other.example"), None);
            assert!(fx.asked().is_empty());
        }

        #[test]
        fn default_file_locations() {
            let mut fx = Fixture::new();
            let env_of = |vars: &HashMap<&'static str, OsString>| {
                let lookup = |name: &str| vars.get(name).cloned();
                (auth_file_in_env(&Env(&lookup)).ok(), docker_config_file(&Env(&lookup)))
            };
            assert_eq!(env_of(&fx.vars), (None, None));
            fx.vars.insert("HOME", "/home/u".into());
            assert_eq!(
                env_of(&fx.vars),
                (Some("/home/u/.config/berth/auth.json".into()), Some("/home/u/.docker/config.json".into()))
            );
            fx.vars.insert("XDG_CONFIG_HOME", "/xdg".into());
            fx.vars.insert("DOCKER_CONFIG", "/dc".into());
            assert_eq!(env_of(&fx.vars), (Some("/xdg/berth/auth.json".into()), Some("/dc/config.json".into())));
            fx.vars.insert("REGISTRY_AUTH_FILE", "/run/auth.json".into());
            assert_eq!(env_of(&fx.vars).0, Some("/run/auth.json".into()));
        }
    }
}
