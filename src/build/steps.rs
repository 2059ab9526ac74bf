//! Instructions after expansion: what the builder executes (RUN, COPY, ADD, WORKDIR's mkdir) or
//! applies to the image config (everything else). Every field that changes a step's result is
//! here, and nothing else is, so the serialized [`Action`] is the step's canonical form for the
//! cache key (`build::cache_key`); what must stay out of the key (proxy variables) is skipped.

use std::time::Duration;

use serde::Serialize;

use super::dockerfile::{Chmod, Healthcheck, Lines, MountSpec, Network, Security};

/// Where COPY (or a mount) reads from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum Source {
    /// The build context.
    Context,
    /// An earlier stage's result, by index.
    Stage(usize),
    /// An image, by reference as written (`--from=nginx:1.27`).
    Image(String),
}

/// One expanded instruction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub lines: Lines,
    /// The instruction as written.
    pub source: String,
    /// The image history's `created_by`, in BuildKit's style (`RUN |1 A=b /bin/sh -c make`).
    pub created_by: String,
    pub action: Action,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum Action {
    Run(RunStep),
    Copy(CopyStep),
    Add(AddStep),
    /// `mkdir -p` of `path` as `user` (nothing to create for `/`), then the config change.
    Workdir {
        path: String,
        user: String,
    },
    /// ARG declarations with their values (history only: the values reach RUN through its env).
    Arg(Vec<(String, Option<String>)>),
    Config(ConfigChange),
}

impl Action {
    /// Whether the step changes the filesystem (and so makes a layer).
    pub fn makes_layer(&self) -> bool {
        match self {
            Action::Run(_) | Action::Copy(_) | Action::Add(_) => true,
            Action::Workdir { path, .. } => path != "/",
            Action::Arg(_) | Action::Config(_) => false,
        }
    }
}

/// A file the builder writes and mounts read-only for a RUN (a heredoc with a `#!` line runs as
/// a script).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InlineFile {
    pub path: String,
    pub content: String,
    pub mode: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RunStep {
    /// The full argv, the stage's shell already in front for the shell form.
    pub argv: Vec<String>,
    /// ENV and ARG values in scope, in order; the RUN's environment.
    pub env: Vec<(String, String)>,
    /// Proxy build args (HTTP_PROXY, …) given but not declared: in the environment, not in the
    /// cache key or history.
    #[serde(skip)]
    pub proxy_env: Vec<(String, String)>,
    pub workdir: String,
    /// The stage's USER ("" is root), resolved by the builder in the rootfs.
    pub user: String,
    pub mounts: Vec<MountSpec>,
    pub network: Network,
    pub security: Security,
    pub inline_files: Vec<InlineFile>,
}

/// A heredoc source after expansion: a file `name` with `content`, mode 0644.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InlineContent {
    pub name: String,
    pub content: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CopyStep {
    pub from: Source,
    /// Paths or patterns, relative to the source's root (a leading `/` means the root too).
    pub sources: Vec<String>,
    pub inline: Vec<InlineContent>,
    /// Absolute; a trailing `/` means "a directory".
    pub dest: String,
    /// `user[:group]`, names or ids, resolved by the builder in the destination's /etc files.
    pub chown: Option<String>,
    pub chmod: Option<Chmod>,
    pub link: bool,
    pub parents: bool,
    pub excludes: Vec<String>,
}

/// An ADD source.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum AddSource {
    /// A context path or pattern; a local tar archive is unpacked unless `--unpack=false`.
    Local(String),
    /// An http(s) URL; downloaded as a file, not unpacked unless `--unpack=true`.
    Http(String),
    /// A git repository URL (`#ref:subdir` fragment allowed).
    Git(String),
}

impl AddSource {
    /// BuildKit's distinction: `git@…`, `git://…`, `ssh://…` and http(s) URLs of a `.git` path
    /// are repositories; other http(s) URLs are downloads; anything else is a context path.
    pub fn classify(source: String) -> AddSource {
        let path = source.split('#').next().unwrap_or("");
        let http = source.starts_with("http://") || source.starts_with("https://");
        let git_scheme = ["git@", "git://", "ssh://"].iter().any(|p| source.starts_with(p));
        if git_scheme || (http && path.trim_end_matches('/').ends_with(".git")) {
            AddSource::Git(source)
        } else if http {
            AddSource::Http(source)
        } else {
            AddSource::Local(source)
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AddStep {
    pub sources: Vec<AddSource>,
    pub inline: Vec<InlineContent>,
    pub dest: String,
    pub chown: Option<String>,
    pub chmod: Option<Chmod>,
    pub link: bool,
    pub keep_git_dir: Option<bool>,
    /// `sha256:…` for a URL, a commit for git.
    pub checksum: Option<String>,
    pub unpack: Option<bool>,
    pub excludes: Vec<String>,
}

/// A change to the image config. Applying the changes of a stage in order to its base image's
/// config gives the stage's config (the assembler's job, `image::instructions`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum ConfigChange {
    /// Set these variables (replacing a variable of the same name in place).
    Env(Vec<(String, String)>),
    Label(Vec<(String, String)>),
    /// The new Cmd (may be empty: `CMD []`).
    Cmd(Vec<String>),
    /// The new Entrypoint (empty removes it); `reset_cmd`: drop the inherited Cmd too, as
    /// Docker does when no CMD came earlier in the same stage.
    Entrypoint {
        argv: Vec<String>,
        reset_cmd: bool,
    },
    Shell(Vec<String>),
    User(String),
    /// An absolute path.
    Workdir(String),
    Volumes(Vec<String>),
    /// `port/proto` keys.
    Expose(Vec<String>),
    StopSignal(String),
    Healthcheck(Healthcheck),
    /// Append a trigger.
    OnBuild(String),
    /// The image's author.
    Maintainer(String),
}

/// A string list as JSON (`["/bin/sh","-c","make"]`), for CMD, ENTRYPOINT and HEALTHCHECK
/// history text.
pub fn json_list(items: &[String]) -> String {
    serde_json::to_string(items).expect("strings serialize")
}

/// A duration the way Go prints one (`1m30s`, `500ms`), for history text.
pub fn go_duration(d: Duration) -> String {
    let ns = d.as_nanos();
    if ns == 0 {
        return "0s".into();
    }
    if ns < 1_000_000_000 {
        return match ns {
            n if n % 1_000_000 == 0 => format!("{}ms", n / 1_000_000),
            n if n % 1_000 == 0 => format!("{}µs", n / 1_000),
            n => format!("{n}ns"),
        };
    }
    let secs = d.as_secs();
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    let frac = d.subsec_nanos();
    let seconds =
        if frac == 0 { format!("{s}s") } else { format!("{s}.{}s", format!("{frac:09}").trim_end_matches('0')) };
    match (h, m) {
        (0, 0) => seconds,
        (0, m) => format!("{m}m{seconds}"),
        (h, m) => format!("{h}h{m}m{seconds}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn history_formats() {
        assert_eq!(json_list(&["/bin/sh".into(), "echo \"hi\"\n".into()]), r#"["/bin/sh","echo \"hi\"\n"]"#);
        assert_eq!(go_duration(Duration::from_secs(90)), "1m30s");
        assert_eq!(go_duration(Duration::from_millis(1500)), "1.5s");
        assert_eq!(go_duration(Duration::from_millis(300)), "300ms");
        assert_eq!(go_duration(Duration::from_secs(3600)), "1h0m0s");
    }
}
