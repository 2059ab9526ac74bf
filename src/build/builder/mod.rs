//! The builder: runs a parsed Dockerfile's stages step by step and commits the target stage as
//! an image (see ARCHITECTURE.md, "Build: the builder").
//!
//! ```text
//! parse → GlobalScope → StageGraph (reachable stages from --target)
//! base images made sure of (local store first, pulled if missing), then the ingest lock, shared,
//! for the rest: layers made here are in no image until the end
//! per reachable stage, in order: Assembly from its base (scratch, an image, an earlier stage)
//!   per instruction (ONBUILD triggers of the base first): StageState::expand → Step
//!     Config / Arg      image::instructions applied, an empty-layer history entry
//!     Run               run::run_step: a container on the parent's layers, its upper dir packed
//!     Copy / Add / Workdir   copy: a tar of the sources written straight into the ingest
//!     layer steps first look for their cache key (cache::lookup), and record it once made
//! the target's Assembly: --label, finish(created = the epoch), commit under the -t names
//! ```

pub mod cache;
mod config;
pub mod copy;
pub mod output;
pub mod run;
mod snapshot;
mod url;

use std::io::Write;
use std::path::{Path, PathBuf};

use self::copy::{CopyOptions, DestInfo, LayerTar, dest_info, plan, resolve_chown, write_inline, write_sources};
use self::output::Output;
use self::run::{Interrupts, RunContext, run_step};
use self::snapshot::Snapshot;
use super::cache_key::{CacheKey, Input, base_key, step_key};
use super::context::BuildContext;
use super::copy_source::{ContextTree, DirTree};
use super::digest::Hasher;
use super::dockerfile::{DockerfileError, Lines, Located, parse};
use super::epoch::{Epoch, resolve_epoch};
use super::expand::{BaseConfig, StageState};
use super::stages::{Base, StageGraph};
use super::stat_cache::StatCache;
use super::steps::{Action, AddSource, Source, Step};
use super::vars::{BuildArgs, GlobalScope, Platforms, unused_args_warning};
use crate::config::Settings;
use crate::container::record::NetworkMode;
use crate::image::ImageError;
use crate::image::assemble::{AssembleError, Assembly, creation_time};
use crate::image::ensure::{EnsureRequest, PullPolicy, ensure_image};
use crate::image::ingest::{StagedLayer, TarIngest};
use crate::image::registry::CredentialSource;
use crate::image::spec::{Compression, History, host_platform};
use crate::store::{ImageRecord, Store, StoreError};

/// BuildKit's history comment for a Dockerfile step.
const HISTORY_COMMENT: &str = "buildkit.dockerfile.v0";

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error(transparent)]
    Dockerfile(#[from] DockerfileError),
    #[error("Dockerfile {lines}: {instruction}")]
    AtStep {
        lines: Lines,
        instruction: String,
        #[source]
        source: Box<BuildError>,
    },
    #[error("process {:?} did not complete successfully: exit code: {code}", command.join(" "))]
    RunFailed { command: Vec<String>, code: i32 },
    #[error("{message}")]
    RunStart { code: i32, message: String },
    #[error("{0}")]
    Copy(String),
    #[error("{0} is not supported yet")]
    Unsupported(&'static str),
    #[error(transparent)]
    Download(Box<crate::image::registry::download::DownloadError>),
    #[error("the build was interrupted")]
    Interrupted,
    #[error("lost the connection to the step's supervisor")]
    SupervisorLost,
    #[error("relaying the step's output")]
    Relay(#[source] std::io::Error),
    #[error("{}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{0}")]
    Helper(String),
    #[error("base image {reference}")]
    BaseImage {
        reference: String,
        #[source]
        source: ImageError,
    },
    #[error(transparent)]
    Context(#[from] super::context::ContextError),
    #[error(transparent)]
    Epoch(#[from] super::epoch::EpochError),
    #[error(transparent)]
    Image(#[from] ImageError),
    #[error(transparent)]
    Assemble(#[from] AssembleError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Container(#[from] crate::container::index::ContainerError),
    #[error(transparent)]
    Start(#[from] crate::container::start::StartError),
    #[error(transparent)]
    Sandbox(#[from] crate::sandbox::process::SandboxError),
    #[error(transparent)]
    Cache(#[from] cache::CacheError),
    #[error(transparent)]
    Instruction(#[from] crate::image::instructions::InstructionError),
}

impl BuildError {
    pub fn io(path: &Path, source: std::io::Error) -> BuildError {
        BuildError::Io { path: path.to_owned(), source }
    }
}

/// What `berth build` was asked.
pub struct BuildRequest<'a> {
    pub settings: &'a Settings,
    pub context: &'a BuildContext,
    pub build_args: Vec<(String, String)>,
    pub target: Option<String>,
    pub no_cache: bool,
    /// `--label`, applied to the built image's config.
    pub labels: Vec<(String, String)>,
    /// Fully qualified names for the image.
    pub names: Vec<String>,
    /// RUN's network when the instruction does not say (`--network`, its default the one a
    /// `berth run` without `--network` gets): the mode, and its networks when a bridge.
    pub network: NetworkMode,
    pub net: crate::container::net_config::NetConfig,
    pub output: &'a Output,
    /// The process's SOURCE_DATE_EPOCH.
    pub source_date_epoch: Option<String>,
    /// `--timestamp`: wins over SOURCE_DATE_EPOCH and git.
    pub timestamp: Option<Epoch>,
    /// `--pull`: base images are pulled again, not taken from the store.
    pub pull: bool,
    /// `--secret` values by id: mounted for a RUN that asks, never in a layer or a cache key.
    pub secrets: Vec<(String, Vec<u8>)>,
}

/// A stage's result so far.
#[derive(Clone)]
struct StageResult {
    assembly: Assembly,
    state: StageState,
    /// The image the stage's containers name ("" from scratch).
    image_id: String,
    key: CacheKey,
    cfg: crate::image::instructions::StageState,
}

/// Everything the steps share.
struct Build<'a> {
    store: &'a Store,
    request: &'a BuildRequest<'a>,
    interrupts: Interrupts,
    epoch: Epoch,
    created: String,
    /// Images named by FROM and COPY --from, made sure of before the build.
    images: Vec<(String, ImageRecord)>,
    stat_cache: Option<StatCache>,
    cache: cache::Cache<'a>,
    downloads: url::Downloads,
    total: usize,
    number: usize,
}

/// Runs the build; the new image's id.
pub fn build(store: &Store, request: &BuildRequest) -> Result<String, BuildError> {
    let interrupts = Interrupts::catch().map_err(|e| BuildError::io(Path::new("signals"), e))?;
    run::remove_stale_containers(store);
    let dockerfile = parse(request.context.dockerfile())?;
    for warning in request.context.warnings() {
        request.output.note(&format!("warning: {warning}"));
    }
    for warning in &dockerfile.warnings {
        request.output.note(&format!("warning: {warning}"));
    }
    let build_args = BuildArgs::new(request.build_args.iter().cloned());
    let host = host_platform();
    let platforms = Platforms { build: host.clone(), target: host.clone() };
    let scope = GlobalScope::new(&dockerfile, &build_args, &platforms, request.target.as_deref().unwrap_or(""))?;
    let mut graph = StageGraph::new(&dockerfile, &scope, request.target.as_deref())?;
    let reachable = graph.reachable();
    let images = ensure_images(store, request, &graph, &reachable)?;
    let context_dir = request.context.is_persistent().then(|| request.context.root());
    let epoch = match request.timestamp {
        Some(epoch) => epoch,
        None => resolve_epoch(&build_args, request.source_date_epoch.as_deref(), context_dir)?,
    };
    let created = creation_time(Some(&epoch.seconds.to_string()))?;
    let _ingest = store.lock_ingest_shared()?;
    let stat_cache = Some(if request.context.is_persistent() {
        StatCache::load(store.root(), request.context.root())
    } else {
        StatCache::in_memory()
    });
    let total = reachable.iter().map(|&i| 1 + dockerfile.stages[i].instructions.len()).sum();
    let mut b = Build {
        store,
        request,
        interrupts,
        epoch,
        created,
        images,
        stat_cache,
        cache: cache::Cache::new(store, request.no_cache),
        downloads: url::Downloads::default(),
        total,
        number: 0,
    };
    let mut results: Vec<Option<StageResult>> = vec![None; dockerfile.stages.len()];
    for &i in &reachable {
        let result = b.stage(&dockerfile, &mut graph, &scope, &build_args, i, &results)?;
        results[i] = Some(result);
    }
    if let Some(warning) = unused_args_warning(&build_args.unused(&graph.declared_args(&dockerfile))) {
        request.output.note(&format!("warning: {warning}"));
    }
    if let Some(cache) = b.stat_cache.take()
        && request.context.is_persistent()
    {
        let _ = cache.save();
    }
    let target = results[graph.target()].take().expect("the target is reachable");
    let mut assembly = target.assembly;
    if !request.labels.is_empty() {
        crate::image::instructions::Instruction::Label(request.labels.clone())
            .apply(assembly.run_config_mut(), &mut crate::image::instructions::StageState::default())?;
    }
    let id = assembly.finish(&b.created)?.commit(store, request.names.clone())?;
    crate::image::event::record_id(store, "build", &id, request.names.first().map(String::as_str));
    Ok(id)
}

/// Every image a reachable stage names, from the store or pulled when missing (before the
/// ingest lock: a pull takes it itself).
fn ensure_images(
    store: &Store,
    request: &BuildRequest,
    graph: &StageGraph,
    reachable: &[usize],
) -> Result<Vec<(String, ImageRecord)>, BuildError> {
    let credentials = CredentialSource::default();
    let mut out: Vec<(String, ImageRecord)> = Vec::new();
    for &i in reachable {
        let mut names: Vec<String> = graph.images(i).iter().cloned().collect();
        if let Base::Image(reference) = graph.base(i) {
            names.insert(0, reference.clone());
        }
        for reference in names {
            if out.iter().any(|(r, _)| *r == reference) {
                continue;
            }
            let ensure = EnsureRequest {
                reference: &reference,
                policy: if request.pull { PullPolicy::Always } else { PullPolicy::Missing },
                platform: None,
                credentials: &credentials,
            };
            let record = ensure_image(store, request.settings, &ensure)
                .map_err(|source| BuildError::BaseImage { reference: reference.clone(), source })?;
            out.push((reference, record));
        }
    }
    Ok(out)
}

fn at_step(step: &Located) -> impl FnOnce(BuildError) -> BuildError + '_ {
    move |e| match e {
        e @ (BuildError::Interrupted | BuildError::AtStep { .. }) => e,
        e => {
            let mut instruction: String = step.source.chars().take(80).collect();
            if instruction.len() < step.source.len() {
                instruction.push('…');
            }
            BuildError::AtStep { lines: step.lines, instruction, source: Box::new(e) }
        }
    }
}

fn history(created: &str, step: &Step) -> History {
    History {
        created: Some(created.to_owned()),
        created_by: Some(step.created_by.clone()),
        comment: Some(HISTORY_COMMENT.into()),
        author: None,
        empty_layer: false,
    }
}

impl Build<'_> {
    fn image(&self, reference: &str) -> &ImageRecord {
        &self.images.iter().find(|(r, _)| r == reference).expect("every image was made sure of").1
    }

    fn stage(
        &mut self,
        dockerfile: &super::dockerfile::Dockerfile,
        graph: &mut StageGraph,
        scope: &GlobalScope,
        build_args: &BuildArgs,
        i: usize,
        results: &[Option<StageResult>],
    ) -> Result<StageResult, BuildError> {
        let stage = &dockerfile.stages[i];
        self.number += 1;
        self.request.output.step(self.number, self.total, &stage.source);
        let mut result = match graph.base(i).clone() {
            Base::Scratch => StageResult {
                assembly: Assembly::scratch(&host_platform()),
                state: StageState::new(dockerfile, i, scope, build_args, &BaseConfig::default()),
                image_id: String::new(),
                key: base_key(None, &host_platform(), &self.epoch),
                cfg: Default::default(),
            },
            Base::Image(reference) => {
                let record = self.image(&reference).clone();
                let assembly = Assembly::from_image(self.store, record.id.as_ref())?;
                let run = assembly.run_config().clone();
                let base = BaseConfig {
                    env: run.env.clone().unwrap_or_default(),
                    working_dir: run.working_dir.clone().filter(|w| !w.is_empty()),
                    user: run.user.clone().filter(|u| !u.is_empty()),
                    shell: run.shell.clone(),
                };
                if let Some(triggers) = run.on_build.as_ref().filter(|t| !t.is_empty()) {
                    graph.add_image_triggers(i, triggers, stage.lines, dockerfile.directives.escape)?;
                }
                // ONBUILD triggers run once, in the image built on this one.
                let mut assembly = assembly;
                assembly.run_config_mut().on_build = None;
                StageResult {
                    assembly,
                    state: StageState::new(dockerfile, i, scope, build_args, &base),
                    image_id: record.id.to_string(),
                    key: base_key(Some(record.id.as_ref()), &host_platform(), &self.epoch),
                    cfg: Default::default(),
                }
            }
            Base::Stage(parent) => {
                let parent = results[parent].clone().expect("a base stage is built first");
                StageResult { state: StageState::from_parent(&parent.state, i), cfg: Default::default(), ..parent }
            }
        };
        for change in result.state.initial_changes().to_vec() {
            config::apply(&mut result.assembly, &mut result.cfg, &change)?;
        }
        let instructions: Vec<Located> =
            graph.triggers(i).iter().cloned().chain(stage.instructions.iter().cloned()).collect();
        for located in &instructions {
            self.interrupts.check()?;
            self.number += 1;
            self.request.output.step(self.number, self.total.max(self.number), &located.source);
            let step = result.state.expand(located)?;
            self.step(&mut result, &step, results).map_err(at_step(located))?;
        }
        Ok(result)
    }

    fn step(
        &mut self,
        result: &mut StageResult,
        step: &Step,
        results: &[Option<StageResult>],
    ) -> Result<(), BuildError> {
        let history = history(&self.created, step);
        match &step.action {
            Action::Config(change) => {
                config::apply(&mut result.assembly, &mut result.cfg, change)?;
                result.assembly.add_empty_layer(history);
                return Ok(());
            }
            Action::Arg(_) => {
                result.assembly.add_empty_layer(history);
                return Ok(());
            }
            Action::Workdir { path, .. } => {
                config::apply(
                    &mut result.assembly,
                    &mut result.cfg,
                    &super::steps::ConfigChange::Workdir(path.clone()),
                )?;
                if path == "/" {
                    result.assembly.add_empty_layer(history);
                    return Ok(());
                }
            }
            Action::Run(_) | Action::Copy(_) | Action::Add(_) => {}
        }
        let inputs = self.inputs(step, results)?;
        let key = step_key(&result.key, &step.action, &inputs).expect("a layer step has a key");
        if let Some(record) = self.cache.lookup(&key, &result.assembly)? {
            self.request.output.cached();
            match record {
                Some(layer) => result.assembly.add_stored_layer(layer, history),
                None => result.assembly.add_empty_layer(history),
            }
            result.key = key;
            return Ok(());
        }
        let staged = self.make_layer(result, step, results)?;
        let before = result.assembly.layers().len();
        result.assembly.add_changes(self.store, staged, history)?;
        let made = (result.assembly.layers().len() > before).then(|| result.assembly.layers().last()).flatten();
        self.cache.record(&key, made)?;
        result.key = key;
        Ok(())
    }

    /// What the step reads besides its parent, for its cache key.
    fn inputs(&mut self, step: &Step, results: &[Option<StageResult>]) -> Result<Vec<Input>, BuildError> {
        let (from, sources, excludes, parents) = match &step.action {
            Action::Copy(copy) => (copy.from.clone(), copy.sources.clone(), copy.excludes.clone(), copy.parents),
            Action::Add(add) => {
                let mut local = Vec::new();
                let mut remote = Vec::new();
                for source in &add.sources {
                    match source {
                        AddSource::Local(path) => local.push(path.clone()),
                        AddSource::Http(url) => {
                            remote.push(self.url_input(url, add.checksum.as_deref(), add.unpack)?)
                        }
                        AddSource::Git(_) => return Err(BuildError::Unsupported("ADD of a git repository")),
                    }
                }
                if local.is_empty() {
                    return Ok(remote);
                }
                let mut inputs = self.source_inputs(Source::Context, local, add.excludes.clone(), false, results)?;
                inputs.extend(remote);
                return Ok(inputs);
            }
            _ => return Ok(Vec::new()),
        };
        self.source_inputs(from, sources, excludes, parents, results)
    }

    /// An ADD URL's cache input: the checksum given, else the download's digest and time.
    fn url_input(&mut self, url: &str, checksum: Option<&str>, unpack: Option<bool>) -> Result<Input, BuildError> {
        if unpack == Some(true) {
            return Err(BuildError::Unsupported("ADD --unpack=true of a URL"));
        }
        if let Some(checksum) = checksum {
            url::check_checksum(checksum)?;
            return Ok(Input::Download { url: url.to_owned(), digest: checksum.to_owned() });
        }
        let fetched = &self.downloads.get(self.store, url, None)?.fetched;
        let digest = match fetched.last_modified {
            Some(time) => format!("{} {time}", fetched.digest),
            None => fetched.digest.clone(),
        };
        Ok(Input::Download { url: url.to_owned(), digest })
    }

    fn source_inputs(
        &mut self,
        from: Source,
        sources: Vec<String>,
        excludes: Vec<String>,
        parents: bool,
        results: &[Option<StageResult>],
    ) -> Result<Vec<Input>, BuildError> {
        match from {
            Source::Context => {
                let tree = ContextTree::new(self.request.context)?;
                let resolved = super::copy_source::resolve(&tree, &sources, &excludes, parents)
                    .map_err(|e| BuildError::Copy(e.to_string()))?;
                let cache = self.stat_cache.as_mut().expect("the stat cache lives for the build");
                let mut hasher = Hasher::new(self.request.context.root_fd(), cache);
                let digest = hasher.resolved(&resolved).map_err(|e| BuildError::Copy(e.to_string()))?;
                Ok(vec![Input::Context(digest)])
            }
            Source::Stage(index) => {
                let stage = results[index].as_ref().expect("a source stage is built first");
                Ok(vec![Input::Stage { index, digest: stage.key.to_string() }])
            }
            Source::Image(reference) => {
                let id = self.image(&reference).id.to_string();
                Ok(vec![Input::Image { reference, digest: id }])
            }
        }
    }

    fn make_layer(
        &mut self,
        result: &StageResult,
        step: &Step,
        results: &[Option<StageResult>],
    ) -> Result<StagedLayer, BuildError> {
        let chains: Vec<String> = result.assembly.layers().iter().map(|l| l.chain_id.clone()).collect();
        let epoch_ns = self.epoch.seconds.saturating_mul(1_000_000_000);
        match &step.action {
            Action::Run(run) => {
                let ctx = RunContext {
                    context_dir: self.request.context.is_persistent().then(|| self.request.context.root()),
                    secrets: &self.request.secrets,
                    store: self.store,
                    image_id: &result.image_id,
                    layers: chains,
                    network: self.request.network,
                    net: &self.request.net,
                    interrupts: &self.interrupts,
                    output: self.request.output,
                };
                run_step(&ctx, run, self.epoch.seconds)
            }
            Action::Workdir { path, .. } => {
                let info = Snapshot::new(self.store, &chains)?.query(|root| dest_info(root, path, false))?;
                let path = info.dest.trim_end_matches('/').to_owned();
                self.tar_layer(|w| {
                    let mut tar = LayerTar::new(w, &info, None, epoch_ns);
                    if info.state != 1 {
                        tar.made_dir(&path, copy::Meta { mode: 0o755, uid: 0, gid: 0, mtime_ns: epoch_ns })?;
                    }
                    tar.finish().map(drop)
                })
            }
            Action::Copy(copy) => {
                let options =
                    CopyOptions { owner: None, keep_owner: false, chmod: copy.chmod.clone(), epoch_ns, unpack: false };
                let inline: Vec<(String, String)> =
                    copy.inline.iter().map(|i| (i.name.clone(), i.content.clone())).collect();
                let source_layers = match &copy.from {
                    Source::Context => None,
                    Source::Stage(index) => Some(
                        results[*index]
                            .as_ref()
                            .expect("a source stage is built first")
                            .assembly
                            .layers()
                            .iter()
                            .map(|l| l.chain_id.clone())
                            .collect::<Vec<_>>(),
                    ),
                    Source::Image(reference) => {
                        Some(self.image(reference).layers.iter().map(|l| l.to_string()).collect())
                    }
                };
                let spec = CopySpec {
                    sources: &copy.sources,
                    excludes: &copy.excludes,
                    parents: copy.parents,
                    dest: &copy.dest,
                    chown: copy.chown.as_deref(),
                    inline: &inline,
                    downloads: &[],
                };
                self.copy_layer(&chains, source_layers, &spec, options)
            }
            Action::Add(add) => {
                let sources: Vec<String> = add
                    .sources
                    .iter()
                    .filter_map(|s| if let AddSource::Local(p) = s { Some(p.clone()) } else { None })
                    .collect();
                let mut downloads = Vec::new();
                for source in &add.sources {
                    if let AddSource::Http(url) = source {
                        downloads.push(self.downloads.get(self.store, url, add.checksum.as_deref())?.clone());
                    }
                }
                let options = CopyOptions {
                    owner: None,
                    keep_owner: false,
                    chmod: add.chmod.clone(),
                    epoch_ns,
                    unpack: add.unpack.unwrap_or(true),
                };
                let inline: Vec<(String, String)> =
                    add.inline.iter().map(|i| (i.name.clone(), i.content.clone())).collect();
                let spec = CopySpec {
                    sources: &sources,
                    excludes: &add.excludes,
                    parents: false,
                    dest: &add.dest,
                    chown: add.chown.as_deref(),
                    inline: &inline,
                    downloads: &downloads,
                };
                self.copy_layer(&chains, None, &spec, options)
            }
            Action::Config(_) | Action::Arg(_) => unreachable!("config steps make no layer"),
        }
    }

    /// A layer written as a tar by `write` straight into the ingest.
    fn tar_layer(&self, write: impl FnOnce(&mut TarIngest) -> std::io::Result<()>) -> Result<StagedLayer, BuildError> {
        let mut ingest = TarIngest::start(self.store, self.store.new_staging()?, Compression::Gzip)?;
        let written = write(&mut ingest);
        let stopped = ingest.stopped();
        let staged = ingest.finish();
        match written {
            Err(_) if stopped => Ok(staged?),
            Err(e) => Err(BuildError::Copy(e.to_string())),
            Ok(()) => Ok(staged?),
        }
    }

    fn copy_layer(
        &mut self,
        chains: &[String],
        source_layers: Option<Vec<String>>,
        spec: &CopySpec,
        mut options: CopyOptions,
    ) -> Result<StagedLayer, BuildError> {
        let want_ids = spec.chown.is_some_and(|c| c.split(':').any(|p| p.parse::<u32>().is_err() && !p.is_empty()));
        let info: DestInfo = Snapshot::new(self.store, chains)?.query(|root| dest_info(root, spec.dest, want_ids))?;
        if let Some(chown) = spec.chown {
            options.owner = Some(resolve_chown(chown, &info).map_err(BuildError::Copy)?);
        }
        let Some(source_layers) = source_layers else {
            let tree = ContextTree::new(self.request.context)?;
            let items = plan(&tree, spec.sources, spec.excludes, spec.parents, &info).map_err(BuildError::Copy)?;
            let root = self.request.context.root_fd();
            return self.tar_layer(|w| {
                let mut tar = LayerTar::new(w, &info, options.owner, options.epoch_ns);
                write_sources(&mut tar, root, &items, &info, &options)?;
                for (name, content) in spec.inline {
                    write_inline(&mut tar, name, content, &info, &options)?;
                }
                for download in spec.downloads {
                    url::write_download(&mut tar, download, &info, &options)?;
                }
                tar.finish().map(drop)
            });
        };
        // From a stage or an image: the sources are resolved and written by a helper that
        // sees that filesystem; its tar comes through a pipe.
        options.keep_owner = true;
        let (helper, mut pipe) = Snapshot::new(self.store, &source_layers)?.stream(&mut |root, out| {
            let tree = DirTree::open(root).map_err(|e| e.to_string())?;
            let items = plan(&tree, spec.sources, spec.excludes, spec.parents, &info)?;
            let mut tar = LayerTar::new(std::io::BufWriter::new(out), &info, options.owner, options.epoch_ns);
            write_sources(&mut tar, tree.root_fd(), &items, &info, &options).map_err(|e| e.to_string())?;
            tar.finish().and_then(|mut w| w.flush()).map_err(|e| e.to_string())
        })?;
        let staged = self.tar_layer(|w| std::io::copy(&mut pipe, w).map(drop));
        drop(pipe);
        // The helper's own error says why a stream ended early.
        helper.wait().map_err(|e| BuildError::Copy(e.to_string()))?;
        staged
    }
}

/// One COPY or ADD, its words expanded.
struct CopySpec<'a> {
    sources: &'a [String],
    excludes: &'a [String],
    parents: bool,
    dest: &'a str,
    chown: Option<&'a str>,
    inline: &'a [(String, String)],
    /// ADD's downloaded URLs.
    downloads: &'a [url::Download],
}
