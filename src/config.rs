//! berth's configuration: /etc/berth/config.toml, then ~/.config/berth/config.toml (or the one
//! file named by --config), then environment variables and flags, later ones winning.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// Why the configuration could not be read. The causes are part of the messages (no
/// `source()`), so each shows once.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("reading config {}: {error}", path.display())]
    Read { path: PathBuf, error: std::io::Error },
    #[error("reading config {}: {error}", path.display())]
    Parse { path: PathBuf, error: toml::de::Error },
    #[error("reading config {}: no such file", .0.display())]
    Missing(PathBuf),
    #[error("reading the current directory: {0}")]
    CurrentDir(std::io::Error),
}

type Result<T> = std::result::Result<T, ConfigError>;

#[derive(Deserialize, Debug, Default, Clone)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub root: Option<PathBuf>,
    pub runroot: Option<PathBuf>,
    pub parallel_downloads: Option<usize>,
    #[serde(default)]
    pub registries: RegistriesConfig,
    #[serde(default)]
    pub network: NetworkFileConfig,
}

#[derive(Deserialize, Debug, Default, Clone)]
#[serde(deny_unknown_fields)]
pub struct NetworkFileConfig {
    /// What a container without `--network` gets (as Podman's `default_network`): `bridge`
    /// unless set; `private` (loopback only), `none`, `host` or a network's name.
    pub default_network: Option<String>,
}

#[derive(Deserialize, Debug, Default, Clone)]
#[serde(deny_unknown_fields)]
pub struct RegistriesConfig {
    /// Registries tried in order for short names; default: docker.io.
    pub search: Option<Vec<String>>,
    /// Registries reached over plain HTTP or with unverified TLS.
    #[serde(default)]
    pub insecure: Vec<String>,
    /// Mirrors tried before the registry itself, by registry host.
    #[serde(default)]
    pub mirrors: BTreeMap<String, Vec<String>>,
}

/// The merged settings a command runs with.
#[derive(Debug, Clone)]
pub struct Settings {
    pub root: PathBuf,
    pub runroot: PathBuf,
    pub rootless: bool,
    pub parallel_downloads: usize,
    pub search_registries: Vec<String>,
    pub insecure_registries: Vec<String>,
    pub mirrors: BTreeMap<String, Vec<String>>,
    /// Directories holding `HOST/ca.crt`.
    pub cert_dirs: Vec<PathBuf>,
    pub config_files: Vec<PathBuf>,
    /// `[network] default_network`: the `--network` of a container given none.
    pub default_network: Option<String>,
}

fn home_dir() -> Option<PathBuf> {
    std::env::var_os("HOME").filter(|h| !h.is_empty()).map(PathBuf::from)
}

fn user_config_dir() -> Option<PathBuf> {
    std::env::var_os("XDG_CONFIG_HOME")
        .filter(|h| !h.is_empty())
        .map(PathBuf::from)
        .or_else(|| home_dir().map(|h| h.join(".config")))
}

fn default_paths(rootless: bool) -> (PathBuf, PathBuf) {
    if !rootless {
        return (PathBuf::from("/var/lib/berth"), PathBuf::from("/run/berth"));
    }
    let data = std::env::var_os("XDG_DATA_HOME")
        .filter(|h| !h.is_empty())
        .map(PathBuf::from)
        .or_else(|| home_dir().map(|h| h.join(".local/share")))
        .unwrap_or_else(|| PathBuf::from("/tmp"));
    let uid = nix::unistd::getuid();
    let run = std::env::var_os("XDG_RUNTIME_DIR")
        .filter(|h| !h.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(format!("/tmp/berth-run-{uid}")));
    (data.join("berth"), run.join("berth"))
}

fn read_config_file(path: &Path) -> Result<Option<FileConfig>> {
    match std::fs::read_to_string(path) {
        Ok(text) => {
            toml::from_str(&text).map(Some).map_err(|error| ConfigError::Parse { path: path.to_owned(), error })
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(error) => Err(ConfigError::Read { path: path.to_owned(), error }),
    }
}

fn merge(base: &mut FileConfig, over: FileConfig) {
    base.root = over.root.or(base.root.take());
    base.runroot = over.runroot.or(base.runroot.take());
    base.parallel_downloads = over.parallel_downloads.or(base.parallel_downloads);
    if over.registries.search.is_some() {
        base.registries.search = over.registries.search;
    }
    base.registries.insecure.extend(over.registries.insecure);
    base.registries.mirrors.extend(over.registries.mirrors);
    base.network.default_network = over.network.default_network.or(base.network.default_network.take());
}

pub struct GlobalFlags<'a> {
    pub root: Option<&'a Path>,
    pub runroot: Option<&'a Path>,
    pub config: Option<&'a Path>,
}

pub fn load(flags: &GlobalFlags) -> Result<Settings> {
    let rootless = crate::sandbox::userns::is_rootless();
    let files: Vec<PathBuf> = match flags.config {
        Some(path) => {
            if !path.exists() {
                return Err(ConfigError::Missing(path.to_owned()));
            }
            vec![path.to_owned()]
        }
        None => {
            let mut v = vec![PathBuf::from("/etc/berth/config.toml")];
            v.extend(user_config_dir().map(|d| d.join("berth/config.toml")));
            v
        }
    };
    let mut merged = FileConfig::default();
    let mut config_files = Vec::new();
    for file in files {
        if let Some(cfg) = read_config_file(&file)? {
            merge(&mut merged, cfg);
            config_files.push(file);
        }
    }
    let (default_root, default_runroot) = default_paths(rootless);
    let root = flags.root.map(Path::to_owned).or(merged.root).unwrap_or(default_root);
    let runroot = flags.runroot.map(Path::to_owned).or(merged.runroot).unwrap_or(default_runroot);
    let mut cert_dirs = vec![
        PathBuf::from("/etc/berth/certs.d"),
        PathBuf::from("/etc/containers/certs.d"),
        PathBuf::from("/etc/docker/certs.d"),
    ];
    if rootless {
        cert_dirs.extend(user_config_dir().map(|d| d.join("berth/certs.d")));
    }
    Ok(Settings {
        root: absolute(root)?,
        runroot: absolute(runroot)?,
        rootless,
        parallel_downloads: merged.parallel_downloads.unwrap_or(6).clamp(1, 64),
        search_registries: merged
            .registries
            .search
            .unwrap_or_else(|| vec![crate::image::reference::DOCKER_HUB.to_owned()]),
        insecure_registries: merged.registries.insecure,
        mirrors: merged.registries.mirrors,
        cert_dirs,
        config_files,
        default_network: merged.network.default_network,
    })
}

fn absolute(p: PathBuf) -> Result<PathBuf> {
    if p.is_absolute() { Ok(p) } else { Ok(std::env::current_dir().map_err(ConfigError::CurrentDir)?.join(p)) }
}
