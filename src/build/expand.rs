//! A stage's variable scope, and the expansion of its instructions into [`Step`]s.
//!
//! [`StageState`] follows a stage from its base: the build environment (the base image's ENV,
//! then the stage's ENV and ARG values in order: what expansion and RUN see), the image's ENV
//! (ENV only), the declared ARGs, WORKDIR, USER and SHELL. [`StageState::expand`] turns one
//! instruction into a step and updates the scope. Which words are expanded follows Docker's
//! reference: ADD, COPY (sources, destination, --chown, --chmod, and heredoc bodies with an
//! unquoted marker), ENV, EXPOSE, LABEL, STOPSIGNAL, USER, VOLUME, WORKDIR, ARG defaults and RUN
//! --mount values; never RUN's command, CMD, ENTRYPOINT, SHELL, HEALTHCHECK or ONBUILD (the
//! container's shell, or a later build, expands those). Every word of one instruction sees the
//! same variables: `ENV a=1 b=$a` gives `b` the value `a` had before.

use super::dockerfile::{
    ArgDecl, Chmod, CommandLine, Dockerfile, DockerfileError, Heredoc, Instruction, Located, heredoc_marker,
    parse_expose, parse_signal,
};
use super::paths;
use super::shell::{Env, Lexer};
use super::stages::{resolve_copy_from, resolve_mount_from};
use super::steps::*;
use super::vars::{BuildArgs, EnvList, GlobalScope};

/// PATH for an image that sets none (BuildKit adds it to every built image's config).
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Args that never become environment variables.
const NON_ENV_ARGS: [&str; 2] = ["BUILDKIT_SBOM_SCAN_CONTEXT", "BUILDKIT_SBOM_SCAN_STAGE"];

/// What a stage takes over from its base image's config.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BaseConfig {
    /// `NAME=value` entries.
    pub env: Vec<String>,
    pub working_dir: Option<String>,
    pub user: Option<String>,
    pub shell: Option<Vec<String>>,
}

/// The scope of one stage while its instructions are expanded.
#[derive(Debug, Clone)]
pub struct StageState {
    lexer: Lexer,
    stage: usize,
    stage_names: Vec<Option<String>>,
    build_args: BuildArgs,
    global: EnvList,
    /// What expansion and RUN see: the image's ENV with the ARG values in scope.
    env: EnvList,
    /// The image config's ENV.
    image_env: EnvList,
    /// Declared ARGs and their values, inherited from a parent stage too.
    args: Vec<(String, Option<String>)>,
    workdir: String,
    user: String,
    shell: Vec<String>,
    /// Whether a CMD came earlier in this stage (an ENTRYPOINT then keeps it).
    cmd_set: bool,
    proxy_env: Vec<(String, String)>,
    /// Config changes the stage starts with (PATH, when the base image has none).
    initial: Vec<ConfigChange>,
}

impl StageState {
    /// The scope of stage `stage`, based on an image (or scratch: an empty `BaseConfig`).
    pub fn new(
        dockerfile: &Dockerfile,
        stage: usize,
        scope: &GlobalScope,
        build_args: &BuildArgs,
        base: &BaseConfig,
    ) -> StageState {
        let mut image_env = EnvList::from_config(&base.env);
        let mut initial = Vec::new();
        if image_env.get("PATH").is_none() {
            image_env.set("PATH", DEFAULT_PATH);
            initial.push(ConfigChange::Env(vec![("PATH".into(), DEFAULT_PATH.into())]));
        }
        StageState {
            lexer: Lexer::new(dockerfile.directives.escape),
            stage,
            stage_names: dockerfile.stages.iter().map(|s| s.name.clone()).collect(),
            build_args: build_args.clone(),
            global: scope.env.clone(),
            env: image_env.clone(),
            image_env,
            args: Vec::new(),
            workdir: paths::join_clean("/", base.working_dir.as_deref().unwrap_or("/")),
            user: base.user.clone().unwrap_or_default(),
            shell: base.shell.clone().filter(|s| !s.is_empty()).unwrap_or_else(|| vec!["/bin/sh".into(), "-c".into()]),
            cmd_set: false,
            proxy_env: build_args.proxy_env(),
            initial,
        }
    }

    /// The scope of stage `stage` whose FROM names the stage `parent` left this scope: a stage
    /// based on a stage inherits its ENV, ARG values, WORKDIR, USER and SHELL.
    pub fn from_parent(parent: &StageState, stage: usize) -> StageState {
        StageState { stage, cmd_set: false, initial: Vec::new(), ..parent.clone() }
    }

    /// Config changes to apply before the stage's first step.
    pub fn initial_changes(&self) -> &[ConfigChange] {
        &self.initial
    }

    /// The build environment (what the next instruction's words see).
    pub fn env(&self) -> &EnvList {
        &self.env
    }

    /// The image config's ENV so far.
    pub fn image_env(&self) -> &EnvList {
        &self.image_env
    }

    pub fn workdir(&self) -> &str {
        &self.workdir
    }

    pub fn user(&self) -> &str {
        &self.user
    }

    pub fn shell(&self) -> &[String] {
        &self.shell
    }

    /// Expands `located` (an instruction of this stage or an ONBUILD trigger running in it)
    /// and updates the scope.
    pub fn expand(&mut self, located: &Located) -> Result<Step, DockerfileError> {
        let fail = |message: String| DockerfileError::new(located.lines, message);
        let snapshot = self.env.clone();
        let lexer = self.lexer;
        let word = |w: &str| lexer.expand_word(w, &snapshot).map_err(|e| fail(e.to_string()));
        let (action, created_by) = match &located.instruction {
            Instruction::Env(pairs) | Instruction::Label(pairs) => {
                let mut expanded = Vec::new();
                for pair in pairs {
                    expanded.push((word(&pair.key)?, word(&pair.value)?));
                }
                let keyword = located.instruction.keyword();
                let text = expanded.iter().map(|(k, v)| format!(" {k}={v}")).collect::<String>();
                if matches!(located.instruction, Instruction::Env(_)) {
                    for (k, v) in &expanded {
                        self.env.set(k, v);
                        self.image_env.set(k, v);
                    }
                    (Action::Config(ConfigChange::Env(expanded)), format!("{keyword}{text}"))
                } else {
                    (Action::Config(ConfigChange::Label(expanded)), format!("{keyword}{text}"))
                }
            }
            Instruction::Arg(decls) => {
                let values = self.declare_args(decls, &snapshot).map_err(fail)?;
                let text: Vec<String> = values
                    .iter()
                    .map(|(name, value)| match value {
                        Some(v) => format!("{name}={v}"),
                        None => name.clone(),
                    })
                    .collect();
                (Action::Arg(values), format!("ARG {}", text.join(" ")))
            }
            Instruction::Run(run) => {
                let mut mounts = Vec::new();
                let mut expand_value = |v: &str| lexer.expand_word(v, &snapshot).map_err(|e| e.to_string());
                for mount in &run.mounts {
                    let spec = mount.spec(&mut expand_value, &self.workdir).map_err(fail)?;
                    if let Some(from) = spec.from() {
                        resolve_mount_from(&self.stage_names, self.stage, from).map_err(fail)?;
                    }
                    mounts.push(spec);
                }
                let (argv, inline_files) = self.run_argv(&run.command, &run.heredocs);
                let created_by = format!("RUN {} # berth", self.run_history(&argv));
                let step = RunStep {
                    argv,
                    env: self.env.entries().to_vec(),
                    proxy_env: self.proxy_env.iter().filter(|(k, _)| self.env.get(k).is_none()).cloned().collect(),
                    workdir: self.workdir.clone(),
                    user: self.user.clone(),
                    mounts,
                    network: run.network.clone(),
                    security: run.security.clone(),
                    inline_files,
                };
                (Action::Run(step), created_by)
            }
            Instruction::Cmd(command) => {
                let argv = self.with_shell(command);
                self.cmd_set = true;
                let text = format!("CMD {}", json_list(&argv));
                (Action::Config(ConfigChange::Cmd(argv)), text)
            }
            Instruction::Entrypoint(command) => {
                let argv = match command {
                    CommandLine::Exec(argv) if argv.is_empty() => Vec::new(),
                    _ => self.with_shell(command),
                };
                let text = format!("ENTRYPOINT {}", json_list(&argv));
                (Action::Config(ConfigChange::Entrypoint { argv, reset_cmd: !self.cmd_set }), text)
            }
            Instruction::Shell(argv) => {
                self.shell = argv.clone();
                let text = format!("SHELL [{}]", argv.join(" "));
                (Action::Config(ConfigChange::Shell(argv.clone())), text)
            }
            Instruction::Workdir(path) => {
                let path = word(path)?;
                if path.is_empty() {
                    return Err(fail("WORKDIR cannot be empty".into()));
                }
                self.workdir = paths::join_clean(&self.workdir, &path);
                let text = format!("WORKDIR {}", self.workdir);
                (Action::Workdir { path: self.workdir.clone(), user: self.user.clone() }, text)
            }
            Instruction::User(user) => {
                self.user = word(user)?;
                (Action::Config(ConfigChange::User(self.user.clone())), format!("USER {}", self.user))
            }
            Instruction::Volume(volumes) => {
                let mut expanded = Vec::new();
                for volume in volumes {
                    let volume = word(volume)?;
                    if volume.is_empty() {
                        return Err(fail("VOLUME specified can not be an empty string".into()));
                    }
                    expanded.push(volume);
                }
                let text = format!("VOLUME [{}]", expanded.join(" "));
                (Action::Config(ConfigChange::Volumes(expanded)), text)
            }
            Instruction::Expose(specs) => {
                let mut ports = Vec::new();
                for spec in specs {
                    for one in lexer.expand_words(spec, &snapshot).map_err(|e| fail(e.to_string()))? {
                        ports.extend(parse_expose(&one).map_err(fail)?);
                    }
                }
                let text = format!("EXPOSE [{}]", ports.join(" "));
                (Action::Config(ConfigChange::Expose(ports)), text)
            }
            Instruction::StopSignal(signal) => {
                let signal = word(signal)?;
                parse_signal(&signal).map_err(fail)?;
                let text = format!("STOPSIGNAL {signal}");
                (Action::Config(ConfigChange::StopSignal(signal)), text)
            }
            Instruction::Healthcheck(check) => {
                let text = healthcheck_history(check);
                (Action::Config(ConfigChange::Healthcheck(check.clone())), text)
            }
            Instruction::OnBuild(onbuild) => {
                let text = format!("ONBUILD {}", onbuild.expression);
                (Action::Config(ConfigChange::OnBuild(onbuild.expression.clone())), text)
            }
            Instruction::Maintainer(name) => {
                (Action::Config(ConfigChange::Maintainer(name.clone())), format!("MAINTAINER {name}"))
            }
            Instruction::Copy(copy) => {
                let from = match &copy.from {
                    None => Source::Context,
                    Some(from) => resolve_copy_from(&self.stage_names, self.stage, from).map_err(fail)?,
                };
                let mut sources = Vec::new();
                for source in &copy.sources {
                    sources.push(checked_source("COPY", word(source)?, &from).map_err(fail)?);
                }
                let common =
                    self.copy_common(&copy.dest, &copy.chown, &copy.chmod, &copy.inline, &snapshot).map_err(fail)?;
                check_destination("COPY", sources.len() + common.inline.len(), &common.dest).map_err(fail)?;
                let mut text = String::from("COPY");
                if copy.parents {
                    text.push_str(" --parents");
                }
                push_flags(&mut text, &common);
                let step = CopyStep {
                    from,
                    sources,
                    inline: common.inline.clone(),
                    dest: common.dest.clone(),
                    chown: common.chown.clone(),
                    chmod: common.chmod.clone(),
                    link: copy.link,
                    parents: copy.parents,
                    excludes: copy.excludes.clone(),
                };
                push_operands(&mut text, &copy.sources, &copy.inline, &copy.dest);
                (Action::Copy(step), text)
            }
            Instruction::Add(add) => {
                let mut sources = Vec::new();
                for source in &add.sources {
                    sources.push(match AddSource::classify(word(source)?) {
                        AddSource::Local(path) => {
                            AddSource::Local(checked_source("ADD", path, &Source::Context).map_err(fail)?)
                        }
                        remote => remote,
                    });
                }
                let checksum = add.checksum.as_deref().map(word).transpose()?;
                if checksum.is_some() && !matches!(sources.as_slice(), [AddSource::Http(_) | AddSource::Git(_)]) {
                    return Err(fail("checksum requires HTTP(S) or Git sources".into()));
                }
                let common =
                    self.copy_common(&add.dest, &add.chown, &add.chmod, &add.inline, &snapshot).map_err(fail)?;
                check_destination("ADD", sources.len() + common.inline.len(), &common.dest).map_err(fail)?;
                let mut text = String::from("ADD");
                push_flags(&mut text, &common);
                push_operands(&mut text, &add.sources, &add.inline, &add.dest);
                let step = AddStep {
                    sources,
                    inline: common.inline,
                    dest: common.dest,
                    chown: common.chown,
                    chmod: common.chmod,
                    link: add.link,
                    keep_git_dir: add.keep_git_dir,
                    checksum,
                    unpack: add.unpack,
                    excludes: add.excludes.clone(),
                };
                (Action::Add(step), text)
            }
        };
        Ok(Step { lines: located.lines, source: located.source.clone(), created_by, action })
    }

    /// ARG: a build arg wins over the default; no default and no build arg inherits the global
    /// value of the same name; the default may use variables in scope.
    fn declare_args(&mut self, decls: &[ArgDecl], snapshot: &EnvList) -> Result<Vec<(String, Option<String>)>, String> {
        let mut values = Vec::new();
        for decl in decls {
            let value = match (self.build_args.get(&decl.name), &decl.default) {
                (Some(given), _) => Some(given.to_owned()),
                (None, Some(default)) => Some(self.lexer.expand_word(default, snapshot).map_err(|e| e.to_string())?),
                (None, None) => self.global.get(&decl.name).map(str::to_owned),
            };
            if let Some(value) = &value
                && !NON_ENV_ARGS.contains(&decl.name.as_str())
            {
                self.env.set(&decl.name, value);
            }
            match self.args.iter_mut().find(|(n, _)| *n == decl.name) {
                Some(entry) => entry.1 = value.clone(),
                None => self.args.push((decl.name.clone(), value.clone())),
            }
            values.push((decl.name.clone(), value));
        }
        Ok(values)
    }

    fn with_shell(&self, command: &CommandLine) -> Vec<String> {
        match command {
            CommandLine::Exec(argv) => argv.clone(),
            CommandLine::Shell(text) => self.shell.iter().cloned().chain(std::iter::once(text.clone())).collect(),
        }
    }

    /// RUN's argv. With heredocs: a command that is only `<<EOF` runs the body (as a script file
    /// when it starts with `#!`); otherwise the heredocs are put back after the command for the
    /// shell to read.
    fn run_argv(&self, command: &CommandLine, heredocs: &[Heredoc]) -> (Vec<String>, Vec<InlineFile>) {
        let (CommandLine::Shell(text), Some(first)) = (command, heredocs.first()) else {
            return (self.with_shell(command), Vec::new());
        };
        if heredoc_marker(text).is_some() {
            let body = first.body();
            if body.starts_with("#!") {
                let path = format!("/dev/pipes/{}", first.name);
                let file = InlineFile { path: path.clone(), content: body, mode: 0o755 };
                return (self.with_shell(&CommandLine::Shell(path)), vec![file]);
            }
            return (self.with_shell(&CommandLine::Shell(body)), Vec::new());
        }
        let mut script = text.clone();
        for doc in heredocs {
            script.push('\n');
            script.push_str(&doc.content);
            script.push_str(&doc.name);
        }
        (self.with_shell(&CommandLine::Shell(script)), Vec::new())
    }

    /// `|N NAME=value… argv…`: the ARGs in scope prefix RUN's history, as BuildKit writes it.
    fn run_history(&self, argv: &[String]) -> String {
        let args: Vec<String> = self
            .args
            .iter()
            .map(|(name, value)| {
                let value = self.env.get(name).map(str::to_owned).or_else(|| value.clone()).unwrap_or_default();
                format!("{name}={value}")
            })
            .collect();
        let prefix = if args.is_empty() { String::new() } else { format!("|{} {} ", args.len(), args.join(" ")) };
        format!("{prefix}{}", argv.join(" "))
    }

    fn copy_common(
        &self,
        dest: &str,
        chown: &Option<String>,
        chmod: &Option<String>,
        inline: &[super::dockerfile::InlineSource],
        snapshot: &EnvList,
    ) -> Result<CopyCommon, String> {
        let word = |w: &str| self.lexer.expand_word(w, snapshot).map_err(|e| e.to_string());
        let chown = chown.as_deref().map(word).transpose()?.filter(|c| !c.is_empty());
        let chmod_text = chmod.as_deref().map(word).transpose()?.filter(|c| !c.is_empty());
        let chmod = chmod_text.as_deref().map(Chmod::parse).transpose()?;
        // Heredoc bodies are expanded with quotes left alone (BuildKit's raw mode).
        let raw = Lexer { skip_quotes: true, ..Lexer::new('\\') };
        let mut contents = Vec::new();
        for source in inline {
            let content = if source.expand {
                raw.expand_word(&source.content, snapshot as &dyn Env).map_err(|e| e.to_string())?
            } else {
                source.content.clone()
            };
            contents.push(InlineContent { name: source.name.clone(), content });
        }
        Ok(CopyCommon {
            dest: paths::join_keep_slash(&self.workdir, &word(dest)?),
            chown,
            chmod_text,
            chmod,
            inline: contents,
        })
    }
}

struct CopyCommon {
    dest: String,
    chown: Option<String>,
    chmod_text: Option<String>,
    chmod: Option<Chmod>,
    inline: Vec<InlineContent>,
}

fn push_flags(text: &mut String, common: &CopyCommon) {
    if let Some(chown) = &common.chown {
        text.push_str(&format!(" --chown={chown}"));
    }
    if let Some(chmod) = &common.chmod_text {
        text.push_str(&format!(" --chmod={chmod}"));
    }
}

fn push_operands(text: &mut String, sources: &[String], inline: &[super::dockerfile::InlineSource], dest: &str) {
    for source in sources {
        text.push(' ');
        text.push_str(source);
    }
    for source in inline {
        text.push_str(" <<");
        text.push_str(&source.name);
    }
    text.push(' ');
    text.push_str(dest);
    text.push_str(" # berth");
}

/// A context source that climbs out of the context (`../x`) is refused: it can only be a
/// mistake, and no file outside the context may reach an image. (BuildKit silently reads `x`
/// at the context root instead.) Stage and image sources resolve inside their own root.
fn checked_source(keyword: &str, source: String, from: &Source) -> Result<String, String> {
    if *from == Source::Context && paths::escapes_root(&source) {
        return Err(format!("{keyword} failed: forbidden path outside the build context: {source}"));
    }
    Ok(source)
}

/// Several sources need a directory destination, written with a trailing slash.
fn check_destination(keyword: &str, sources: usize, dest: &str) -> Result<(), String> {
    if sources > 1 && !dest.ends_with('/') {
        return Err(format!(
            "When using {keyword} with more than one source file, the destination must be a directory and end with a /"
        ));
    }
    Ok(())
}

fn healthcheck_history(check: &super::dockerfile::Healthcheck) -> String {
    use super::dockerfile::Healthcheck;
    match check {
        Healthcheck::None => "HEALTHCHECK NONE".into(),
        Healthcheck::Check(c) => {
            let mut text = String::from("HEALTHCHECK");
            for (name, value) in [
                ("interval", c.interval),
                ("timeout", c.timeout),
                ("start-period", c.start_period),
                ("start-interval", c.start_interval),
            ] {
                if let Some(d) = value {
                    text.push_str(&format!(" --{name}={}", go_duration(d)));
                }
            }
            if let Some(r) = c.retries {
                text.push_str(&format!(" --retries={r}"));
            }
            format!("{text} {}", json_list(&c.test))
        }
    }
}

#[cfg(test)]
#[path = "expand_tests.rs"]
mod tests;
