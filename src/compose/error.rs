//! Compose's errors: each names the file, the line and the key it is about.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum ComposeError {
    #[error("{}:{line}: {key}: {message}", file.display())]
    At { file: PathBuf, line: usize, key: String, message: String },
    #[error("{}:{line}: not valid YAML: {message}", file.display())]
    Syntax { file: PathBuf, line: usize, message: String },
    #[error("reading {}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "no configuration file provided: not found (looked for compose.yaml, compose.yml, docker-compose.yaml or docker-compose.yml here and in the parent directories)"
    )]
    NoFile,
    #[error(
        "invalid project name {0:?}: it must contain only lowercase letters, digits, dashes and underscores, and start with a letter or digit"
    )]
    ProjectName(String),
    #[error("no such service: {0}")]
    NoSuchService(String),
}
