//! The typed Dockerfile. Words the builder expands (paths, ENV values, flag values) are kept as
//! written, quotes included; `build::expand` expands them in the scope of their stage.

use std::time::Duration;

use serde::Serialize;

pub use super::lines::{Directives, Heredoc};
pub use super::mount::MountSpec;
pub use super::words::KeyValue;
use super::{Lines, Warning};

/// A parsed Dockerfile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dockerfile {
    pub directives: Directives,
    /// ARG instructions before the first FROM: the global scope, usable in FROM lines (and in a
    /// stage that declares the ARG again).
    pub global_args: Vec<Located>,
    pub stages: Vec<Stage>,
    /// Non-fatal findings (empty continuation lines).
    pub warnings: Vec<Warning>,
}

/// `FROM [--platform=P] BASE [AS NAME]` and the instructions up to the next FROM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stage {
    /// Position in the Dockerfile, from 0 (what `COPY --from=0` names).
    pub index: usize,
    /// `AS name`, lowercased (stage names are case-insensitive).
    pub name: Option<String>,
    /// The base as written: an image reference, `scratch`, or an earlier stage's name; may use
    /// global ARGs.
    pub base: String,
    /// `--platform`, as written.
    pub platform: Option<String>,
    pub lines: Lines,
    /// The FROM line as written.
    pub source: String,
    pub instructions: Vec<Located>,
}

impl Stage {
    /// The name, or `stage-N` as BuildKit shows an unnamed stage.
    pub fn display_name(&self) -> String {
        self.name.clone().unwrap_or_else(|| format!("stage-{}", self.index))
    }
}

/// An instruction and where it was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Located {
    pub lines: Lines,
    /// The logical line as written (continuations joined, trimmed).
    pub source: String,
    pub instruction: Instruction,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Instruction {
    Run(Run),
    Cmd(CommandLine),
    Entrypoint(CommandLine),
    /// SHELL's exec-form argv.
    Shell(Vec<String>),
    Env(Vec<KeyValue>),
    Label(Vec<KeyValue>),
    Arg(Vec<ArgDecl>),
    Copy(Copy),
    Add(Add),
    Workdir(String),
    User(String),
    Volume(Vec<String>),
    /// Port specs as written (sorted, as BuildKit sorts them before expansion).
    Expose(Vec<String>),
    StopSignal(String),
    Healthcheck(Healthcheck),
    OnBuild(OnBuild),
    Maintainer(String),
}

impl Instruction {
    /// The keyword, upper case.
    pub fn keyword(&self) -> &'static str {
        match self {
            Instruction::Run(_) => "RUN",
            Instruction::Cmd(_) => "CMD",
            Instruction::Entrypoint(_) => "ENTRYPOINT",
            Instruction::Shell(_) => "SHELL",
            Instruction::Env(_) => "ENV",
            Instruction::Label(_) => "LABEL",
            Instruction::Arg(_) => "ARG",
            Instruction::Copy(_) => "COPY",
            Instruction::Add(_) => "ADD",
            Instruction::Workdir(_) => "WORKDIR",
            Instruction::User(_) => "USER",
            Instruction::Volume(_) => "VOLUME",
            Instruction::Expose(_) => "EXPOSE",
            Instruction::StopSignal(_) => "STOPSIGNAL",
            Instruction::Healthcheck(_) => "HEALTHCHECK",
            Instruction::OnBuild(_) => "ONBUILD",
            Instruction::Maintainer(_) => "MAINTAINER",
        }
    }
}

/// Shell form (run with the stage's SHELL, default `/bin/sh -c`) or exec form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommandLine {
    /// The command text; an empty text is an empty CMD.
    Shell(String),
    Exec(Vec<String>),
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub enum Network {
    #[default]
    Default,
    None,
    Host,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub enum Security {
    #[default]
    Sandbox,
    Insecure,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Run {
    pub command: CommandLine,
    /// Heredocs in the command (`RUN <<EOF`, `RUN python3 <<EOF`, several on one line).
    pub heredocs: Vec<Heredoc>,
    pub mounts: Vec<Mount>,
    pub network: Network,
    pub security: Security,
}

/// One `--mount=` value, typed by [`Mount::spec`] after expansion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    /// The value as written.
    pub text: String,
    /// `from=` (a stage name or an image), known at parse time because it cannot use variables.
    pub from: Option<String>,
}

impl Mount {
    /// The typed mount: `expand` is applied to each option value, `workdir` resolves a
    /// relative target.
    pub fn spec(
        &self,
        expand: &mut dyn FnMut(&str) -> Result<String, String>,
        workdir: &str,
    ) -> Result<MountSpec, String> {
        super::mount::parse_mount(&self.text, expand, workdir)
    }
}

/// `ARG name[=default]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArgDecl {
    pub name: String,
    pub default: Option<String>,
}

/// A heredoc used as a COPY/ADD source: a file named `name` with `content` (tabs already
/// stripped for `<<-`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InlineSource {
    pub name: String,
    pub content: String,
    /// Unquoted marker: the builder expands variables in the content.
    pub expand: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Copy {
    /// Context paths or patterns (or, with `from`, paths in that stage or image).
    pub sources: Vec<String>,
    pub inline: Vec<InlineSource>,
    pub dest: String,
    /// `--from`: a stage name, a stage index or an image reference.
    pub from: Option<String>,
    pub chown: Option<String>,
    pub chmod: Option<String>,
    pub link: bool,
    pub parents: bool,
    pub excludes: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Add {
    /// Context paths or patterns, http(s) URLs, git URLs.
    pub sources: Vec<String>,
    pub inline: Vec<InlineSource>,
    pub dest: String,
    pub chown: Option<String>,
    pub chmod: Option<String>,
    pub link: bool,
    pub keep_git_dir: Option<bool>,
    pub checksum: Option<String>,
    /// `--unpack`: `None` means the default (local archives are unpacked, downloads are not).
    pub unpack: Option<bool>,
    pub excludes: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum Healthcheck {
    /// `HEALTHCHECK NONE`: no check, not even an inherited one.
    None,
    Check(HealthcheckConfig),
}

/// The image config's `Healthcheck`. Unset durations and retries inherit Docker's defaults at run
/// time (30s, 30s, 0s, 5s, 3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HealthcheckConfig {
    /// `["CMD", argv…]` (exec form) or `["CMD-SHELL", "command"]`.
    pub test: Vec<String>,
    pub interval: Option<Duration>,
    pub timeout: Option<Duration>,
    pub start_period: Option<Duration>,
    pub start_interval: Option<Duration>,
    pub retries: Option<u32>,
}

/// `ONBUILD INSTRUCTION`: stored in the image, run when the image is used as a base.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OnBuild {
    /// The trigger as the image config stores it (heredoc bodies appended).
    pub expression: String,
    /// The trigger parsed (ONBUILD, FROM and MAINTAINER are refused as triggers).
    pub trigger: Box<Located>,
}
