//! Cache keys of build steps: a hash chain, one key per step that changes the filesystem.
//!
//! `key(step) = sha256(version, parent key, the expanded step, its inputs)`, where the expanded
//! step ([`Action`], serialized) holds everything its result depends on: the argv, the ENV and
//! ARG values in scope (a RUN's shell may read any of them), WORKDIR, USER, a RUN's network (its
//! `--network=`, else the build's `--network none|host`, resolved by the builder before keying:
//! a step made without a network must not be reused with one), the mounts with their
//! ids and options (never a secret's or a cache mount's content), the expanded COPY sources,
//! destination, --chown and --chmod; and the inputs hold what the step reads: the content digest
//! of its context files, the keys of the stages it copies or mounts from, the digests of the
//! images it reads. Steps that only change the image config (ENV, LABEL, ARG, CMD, …) make no
//! layer and get no key: a changed ARG misses the cache where it is first used, not where it is
//! declared. Proxy build args stay out (they are skipped when a step is serialized).
//!
//! The base key covers the base image (by digest), the platform and the build's epoch (new files'
//! times are clamped to it, so it shapes every layer).

use std::fmt;

use serde::Serialize;
use sha2::{Digest, Sha256};

use super::epoch::Epoch;
use super::steps::Action;
use crate::image::spec::Platform;

/// Bumped whenever what a key covers, or how a step is serialized, changes.
pub const KEY_VERSION: &str = "berth-build-key-2";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CacheKey([u8; 32]);

impl fmt::Display for CacheKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sha256:{}", hex::encode(self.0))
    }
}

impl CacheKey {
    pub fn bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Parses `sha256:<hex>`.
    pub fn parse(text: &str) -> Option<CacheKey> {
        let hex = text.strip_prefix("sha256:")?;
        let bytes: [u8; 32] = hex::decode(hex).ok()?.try_into().ok()?;
        Some(CacheKey(bytes))
    }
}

/// What a step reads besides its parent's filesystem (heredoc files need none: their content is
/// in the step).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum Input {
    /// The digest of the context files it reads (`digest::Hasher::resolved`), for COPY, ADD and
    /// bind mounts of the context.
    Context(String),
    /// Content it reads from an earlier stage's result (COPY --from, a mount from=): the
    /// digest of the files read, or that stage's last key.
    Stage { index: usize, digest: String },
    /// An image it reads files from, by the digest the reference resolved to.
    Image { reference: String, digest: String },
    /// A downloaded file (ADD URL): its checksum or content digest.
    Download { url: String, digest: String },
    /// A git checkout: the commit.
    Git { url: String, commit: String },
}

#[derive(Serialize)]
struct Base<'a> {
    version: &'static str,
    image: Option<&'a str>,
    platform: String,
    epoch: i64,
}

#[derive(Serialize)]
struct StepKey<'a> {
    version: &'static str,
    parent: String,
    action: &'a Action,
    inputs: &'a [Input],
}

fn hash(value: &impl Serialize) -> CacheKey {
    let bytes = serde_json::to_vec(value).expect("steps serialize");
    CacheKey(Sha256::digest(&bytes).into())
}

fn platform_text(platform: &Platform) -> String {
    format!("{}/{}/{}", platform.os, platform.architecture, platform.variant.as_deref().unwrap_or(""))
}

/// The key a stage starts from: its base image's digest (`None` for scratch), the platform and the
/// epoch. A stage based on another stage starts from that stage's last key instead.
pub fn base_key(image_digest: Option<&str>, platform: &Platform, epoch: &Epoch) -> CacheKey {
    // `--timestamp now` changes every build; keyed on it, nothing would ever be cached.
    let seconds = if epoch.source == super::epoch::EpochSource::Now { -1 } else { epoch.seconds };
    hash(&Base { version: KEY_VERSION, image: image_digest, platform: platform_text(platform), epoch: seconds })
}

/// The key of a step after `parent`, or `None` for a step that makes no layer.
pub fn step_key(parent: &CacheKey, action: &Action, inputs: &[Input]) -> Option<CacheKey> {
    if !action.makes_layer() {
        return None;
    }
    Some(hash(&StepKey { version: KEY_VERSION, parent: parent.to_string(), action, inputs }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::build::dockerfile::parse;
    use crate::build::expand::{BaseConfig, StageState};
    use crate::build::steps::Step;
    use crate::build::vars::{BuildArgs, GlobalScope, Platforms};

    fn amd64() -> Platform {
        Platform { architecture: "amd64".into(), os: "linux".into(), variant: None, os_version: None }
    }

    fn epoch(seconds: i64) -> Epoch {
        Epoch { seconds, source: crate::build::epoch::EpochSource::BuildArg }
    }

    fn steps(text: &str, args: &[(&str, &str)]) -> Vec<Step> {
        let df = parse(text.as_bytes()).unwrap();
        let build_args = BuildArgs::new(args.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        let platforms = Platforms { build: amd64(), target: amd64() };
        let scope = GlobalScope::new(&df, &build_args, &platforms, "").unwrap();
        let mut state = StageState::new(&df, 0, &scope, &build_args, &BaseConfig::default());
        df.stages[0].instructions.iter().map(|l| state.expand(l).unwrap()).collect()
    }

    /// The keys of the layer-making steps, chained from the base.
    fn chain(text: &str, args: &[(&str, &str)], inputs: &[Input]) -> Vec<String> {
        let mut parent = base_key(Some("sha256:base"), &amd64(), &epoch(0));
        let mut keys = Vec::new();
        for step in steps(text, args) {
            let step_inputs = if matches!(step.action, Action::Copy(_)) { inputs } else { &[] };
            if let Some(key) = step_key(&parent, &step.action, step_inputs) {
                keys.push(key.to_string());
                parent = key;
            }
        }
        keys
    }

    const DF: &str = "FROM x\nARG V=1\nCOPY a /a\nRUN --mount=type=secret,id=tok make\nLABEL l=1\nRUN echo $V\n";

    #[test]
    fn keys_change_with_what_steps_use() {
        let inputs = [Input::Context("sha256:aaa".into())];
        let base = chain(DF, &[], &inputs);
        assert_eq!(base.len(), 3);
        assert_eq!(chain(DF, &[], &inputs), base, "deterministic");
        // An ARG value misses at its first use: COPY keeps its key, the RUNs (which see it in
        // their environment) do not.
        let arg = chain(DF, &[("V", "2")], &inputs);
        assert_eq!(arg[0], base[0]);
        assert_ne!(arg[1], base[1]);
        // Content of the copied files: that step and everything after it.
        let content = chain(DF, &[], &[Input::Context("sha256:bbb".into())]);
        assert!(content.iter().zip(&base).all(|(a, b)| a != b));
        // A config-only instruction changes no key.
        let label = chain(&DF.replace("l=1", "l=2"), &[], &inputs);
        assert_eq!(label, base);
        // A parent change propagates.
        let other_base = base_key(Some("sha256:other"), &amd64(), &epoch(0));
        let step = &steps(DF, &[])[1];
        let parent = base_key(Some("sha256:base"), &amd64(), &epoch(0));
        assert_ne!(step_key(&parent, &step.action, &inputs), step_key(&other_base, &step.action, &inputs));
        assert_ne!(base_key(None, &amd64(), &epoch(0)), base_key(None, &amd64(), &epoch(1)), "the epoch shapes layers");
    }

    #[test]
    fn secrets_and_cache_mounts_enter_by_id_only() {
        let with_secret = chain("FROM x\nRUN --mount=type=secret,id=a make\n", &[], &[]);
        let other_secret = chain("FROM x\nRUN --mount=type=secret,id=b make\n", &[], &[]);
        assert_ne!(with_secret, other_secret, "the id is part of the step");
        let cache_a = chain("FROM x\nRUN --mount=type=cache,target=/c,id=one make\n", &[], &[]);
        let cache_b = chain("FROM x\nRUN --mount=type=cache,target=/c,id=two make\n", &[], &[]);
        assert_ne!(cache_a, cache_b);
        // What a key covers is the serialized step: it has no room for a secret's value.
        let step = &steps("FROM x\nRUN --mount=type=secret,id=a,env=TOKEN make\n", &[])[0];
        let json = serde_json::to_string(&step.action).unwrap();
        assert!(json.contains("\"id\":\"a\"") && json.contains("\"env\":\"TOKEN\""), "{json}");
    }

    #[test]
    fn keys_parse_back() {
        let key = base_key(None, &amd64(), &epoch(0));
        assert_eq!(CacheKey::parse(&key.to_string()), Some(key));
        assert_eq!(CacheKey::parse("sha256:xyz"), None);
    }
}
