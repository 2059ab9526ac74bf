//! `build:` sections through the library builder (src/build): the image a service runs is
//! its `image:` name, or PROJECT-SERVICE as Docker Compose names it, built from the context.

use std::path::Path;

use crate::build::builder::output::{Output, Progress};
use crate::build::builder::{BuildError, BuildRequest, build};
use crate::build::context::{BuildContext, DockerfileSource};
use crate::config::Settings;
use crate::container::net_config::{self, DEFAULT_NETWORK, NetFlags};
use crate::image::assemble::qualify_name;
use crate::store::Store;

use super::engine::{EngineError, Progress as UpProgress};
use super::model::{Project, Service};

/// When `up` builds a service that has a `build:` section.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub enum BuildPolicy {
    /// When its image is not in the store (or `pull_policy: build` says always).
    #[default]
    Missing,
    /// `--build`: every time.
    Always,
    /// `--no-build`: never; a missing image is an error.
    Never,
}

/// What `compose build` and `up --build` pass on to the builder.
#[derive(Debug, Default, Clone)]
pub struct BuildOptions {
    pub no_cache: bool,
    pub pull: bool,
    /// `--build-arg KEY=VALUE`, over the file's args.
    pub args: Vec<(String, String)>,
    pub quiet: bool,
}

/// The image name a service runs: `image:`, else PROJECT-SERVICE.
pub fn image_name(project: &Project, service: &str, s: &Service) -> String {
    s.image.clone().unwrap_or_else(|| format!("{}-{service}", project.name))
}

fn failed(service: &str, source: impl Into<BuildError>) -> EngineError {
    EngineError::Build { service: service.into(), source: Box::new(source.into()) }
}

/// Builds the service's image and tags it with its name; the image id.
pub fn build_service(
    store: &Store,
    settings: &Settings,
    project: &Project,
    name: &str,
    s: &Service,
    opts: &BuildOptions,
    progress: &mut dyn UpProgress,
) -> Result<String, EngineError> {
    let Some(b) = &s.build else {
        return Err(EngineError::Unsupported { service: name.into(), message: "has no build: section".into() });
    };
    if !b.secrets.is_empty() {
        return Err(EngineError::Unsupported {
            service: name.into(),
            message: "build secrets are not supported yet".into(),
        });
    }
    let registry = crate::image::lookup::default_registry(settings);
    let shown = image_name(project, name, s);
    let tag = qualify_name(&shown, registry)
        .map_err(|e| EngineError::Unsupported { service: name.into(), message: e.to_string() })?;
    let dockerfile = match &b.dockerfile_inline {
        Some(text) => DockerfileSource::Bytes(text.clone().into_bytes()),
        None => DockerfileSource::Path(Path::new(&b.context).join(&b.dockerfile)),
    };
    let context = BuildContext::from_dir(Path::new(&b.context), dockerfile).map_err(|e| failed(name, e))?;
    let mut build_args: Vec<(String, String)> =
        b.args.iter().filter_map(|(k, v)| v.as_ref().map(|v| (k.clone(), v.clone()))).collect();
    for (k, v) in &opts.args {
        build_args.retain(|(key, _)| key != k);
        build_args.push((k.clone(), v.clone()));
    }
    // RUN steps get what a `berth run` without --network gets, as `berth build`'s default.
    let network = settings.default_network.clone().unwrap_or_else(|| DEFAULT_NETWORK.to_owned());
    let (network, net) = net_config::parse(&NetFlags { networks: vec![network], ..NetFlags::default() })
        .map_err(|e| EngineError::Unsupported { service: name.into(), message: e.to_string() })?;
    let output = Output::new(if opts.quiet { Progress::Quiet } else { Progress::Plain });
    progress.event("Image", &shown, "Building");
    let request = BuildRequest {
        settings,
        context: &context,
        build_args,
        target: b.target.clone(),
        no_cache: opts.no_cache,
        labels: b.labels.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
        names: vec![tag.clone()],
        network,
        net,
        output: &output,
        source_date_epoch: std::env::var("SOURCE_DATE_EPOCH").ok(),
        timestamp: None,
        pull: opts.pull,
        secrets: Vec::new(),
    };
    let id = build(store, &request).map_err(|e| failed(name, e))?;
    output.finish();
    progress.event("Image", &shown, "Built");
    Ok(id)
}
