//! Build arguments and the global variable scope.
//!
//! The rules (Docker's reference, BuildKit's `dockerfile2llb`): `--build-arg` values override
//! ARG defaults but only for ARGs the Dockerfile declares; an ARG before the first FROM is
//! global and usable in FROM lines only, unless a stage declares it again (`ARG NAME`, no
//! default) to inherit its value; the platform args (BUILDPLATFORM, TARGETARCH, …) are global
//! the same way; the proxy args (HTTP_PROXY family) reach every RUN without a declaration and
//! stay out of the cache key and the history unless declared. A build arg nothing declares is
//! reported as unused.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use super::dockerfile::{Dockerfile, DockerfileError, Instruction};
use super::shell::{Env, Lexer};
use crate::image::spec::Platform;

/// The proxy build args, which need no ARG declaration.
pub const PROXY_ARGS: [&str; 10] = [
    "HTTP_PROXY",
    "http_proxy",
    "HTTPS_PROXY",
    "https_proxy",
    "FTP_PROXY",
    "ftp_proxy",
    "NO_PROXY",
    "no_proxy",
    "ALL_PROXY",
    "all_proxy",
];

/// The automatic platform args, in BuildKit's order.
pub const PLATFORM_ARGS: [&str; 11] = [
    "BUILDPLATFORM",
    "BUILDOS",
    "BUILDOSVERSION",
    "BUILDARCH",
    "BUILDVARIANT",
    "TARGETPLATFORM",
    "TARGETOS",
    "TARGETOSVERSION",
    "TARGETARCH",
    "TARGETVARIANT",
    "TARGETSTAGE",
];

/// Args the builder itself understands, never reported as unused.
fn is_predefined(name: &str) -> bool {
    PROXY_ARGS.contains(&name)
        || PLATFORM_ARGS.contains(&name)
        || name == "SOURCE_DATE_EPOCH"
        || name.starts_with("BUILDKIT_")
}

/// An ordered list of variables; setting a name that is there replaces its value in place.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct EnvList(Vec<(String, String)>);

impl EnvList {
    /// From an image config's `Env` (`NAME=value`; a bare `NAME` has an empty value).
    pub fn from_config(env: &[String]) -> EnvList {
        let mut list = EnvList::default();
        for entry in env {
            let (name, value) = entry.split_once('=').unwrap_or((entry, ""));
            list.set(name, value);
        }
        list
    }

    pub fn set(&mut self, name: &str, value: &str) {
        match self.0.iter_mut().find(|(n, _)| n == name) {
            Some(entry) => entry.1 = value.to_owned(),
            None => self.0.push((name.to_owned(), value.to_owned())),
        }
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    pub fn entries(&self) -> &[(String, String)] {
        &self.0
    }

    /// `NAME=value` strings, as an image config stores them.
    pub fn to_config(&self) -> Vec<String> {
        self.0.iter().map(|(n, v)| format!("{n}={v}")).collect()
    }
}

impl Env for EnvList {
    fn lookup(&self, name: &str) -> Option<&str> {
        self.get(name)
    }
}

/// `--build-arg NAME=VALUE` values (the CLI resolves a bare `NAME` from its environment).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BuildArgs {
    values: BTreeMap<String, String>,
}

impl BuildArgs {
    pub fn new(pairs: impl IntoIterator<Item = (String, String)>) -> BuildArgs {
        BuildArgs { values: pairs.into_iter().collect() }
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(String::as_str)
    }

    /// The proxy args given, for every RUN's environment (outside the cache key).
    pub fn proxy_env(&self) -> Vec<(String, String)> {
        self.values
            .iter()
            .filter(|(k, _)| PROXY_ARGS.contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    /// Names given that no ARG in `declared` consumes and the builder does not predefine,
    /// sorted: Docker warns "one or more build-args [..] were not consumed".
    pub fn unused(&self, declared: &BTreeSet<String>) -> Vec<String> {
        self.values.keys().filter(|k| !declared.contains(*k) && !is_predefined(k)).cloned().collect()
    }
}

/// Docker's warning for build args nothing consumed (see [`BuildArgs::unused`]), if any.
pub fn unused_args_warning(unused: &[String]) -> Option<String> {
    (!unused.is_empty()).then(|| format!("one or more build-args [{}] were not consumed", unused.join(" ")))
}

/// The build and target platforms the platform args describe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Platforms {
    pub build: Platform,
    pub target: Platform,
}

fn platform_text(p: &Platform) -> String {
    match &p.variant {
        Some(v) => format!("{}/{}/{v}", p.os, p.architecture),
        None => format!("{}/{}", p.os, p.architecture),
    }
}

/// The automatic platform args, each overridden by a build arg of the same name.
pub fn platform_args(platforms: &Platforms, target_stage: &str, build_args: &BuildArgs) -> EnvList {
    let (b, t) = (&platforms.build, &platforms.target);
    let stage = if target_stage.is_empty() { "default" } else { target_stage };
    let values = [
        platform_text(b),
        b.os.clone(),
        b.os_version.clone().unwrap_or_default(),
        b.architecture.clone(),
        b.variant.clone().unwrap_or_default(),
        platform_text(t),
        t.os.clone(),
        t.os_version.clone().unwrap_or_default(),
        t.architecture.clone(),
        t.variant.clone().unwrap_or_default(),
        stage.to_owned(),
    ];
    let mut env = EnvList::default();
    for (name, value) in PLATFORM_ARGS.iter().zip(values) {
        env.set(name, build_args.get(name).unwrap_or(&value));
    }
    env
}

/// The global scope: the platform args and the ARGs before the first FROM, with their values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GlobalScope {
    pub env: EnvList,
    /// Names the global ARGs declare (set or not).
    pub declared: BTreeSet<String>,
}

impl GlobalScope {
    /// Evaluates the global ARGs in order: a build arg wins over the default, a default may use
    /// earlier globals.
    pub fn new(
        dockerfile: &Dockerfile,
        build_args: &BuildArgs,
        platforms: &Platforms,
        target_stage: &str,
    ) -> Result<GlobalScope, DockerfileError> {
        let mut env = platform_args(platforms, target_stage, build_args);
        let mut declared = BTreeSet::new();
        let lexer = Lexer::new(dockerfile.directives.escape);
        for located in &dockerfile.global_args {
            let Instruction::Arg(decls) = &located.instruction else { continue };
            for decl in decls {
                declared.insert(decl.name.clone());
                let value = match (build_args.get(&decl.name), &decl.default) {
                    (Some(value), _) => Some(value.to_owned()),
                    (None, Some(default)) => Some(
                        lexer
                            .expand_word(default, &env)
                            .map_err(|e| DockerfileError::new(located.lines, e.to_string()))?,
                    ),
                    (None, None) => None,
                };
                if let Some(value) = value {
                    env.set(&decl.name, &value);
                }
            }
        }
        Ok(GlobalScope { env, declared })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::build::dockerfile::parse;

    fn amd64() -> Platforms {
        let p = Platform { architecture: "amd64".into(), os: "linux".into(), variant: None, os_version: None };
        Platforms { build: p.clone(), target: p }
    }

    #[test]
    fn platform_args_and_overrides() {
        let arm =
            Platform { architecture: "arm".into(), os: "linux".into(), variant: Some("v7".into()), os_version: None };
        let platforms = Platforms { target: arm, ..amd64() };
        let env = platform_args(&platforms, "", &BuildArgs::new([("TARGETOS".into(), "plan9".into())]));
        assert_eq!(env.get("BUILDPLATFORM"), Some("linux/amd64"));
        assert_eq!(env.get("TARGETPLATFORM"), Some("linux/arm/v7"));
        assert_eq!((env.get("TARGETARCH"), env.get("TARGETVARIANT")), (Some("arm"), Some("v7")));
        assert_eq!((env.get("BUILDVARIANT"), env.get("TARGETSTAGE")), (Some(""), Some("default")));
        assert_eq!(env.get("TARGETOS"), Some("plan9"));
    }

    #[test]
    fn global_args_chain_and_yield_to_build_args() {
        let df = parse(b"ARG A=1\nARG B=${A}2 C\nARG D=$TARGETARCH\nFROM x").unwrap();
        let scope = GlobalScope::new(&df, &BuildArgs::default(), &amd64(), "").unwrap();
        assert_eq!((scope.env.get("A"), scope.env.get("B"), scope.env.get("C")), (Some("1"), Some("12"), None));
        assert_eq!(scope.env.get("D"), Some("amd64"));
        assert_eq!(scope.declared.iter().collect::<Vec<_>>(), ["A", "B", "C", "D"]);
        let args = BuildArgs::new([("A".into(), "9".into()), ("C".into(), "c".into())]);
        let scope = GlobalScope::new(&df, &args, &amd64(), "").unwrap();
        assert_eq!((scope.env.get("B"), scope.env.get("C")), (Some("92"), Some("c")));
        let df = parse(b"ARG A=${B:?required}\nFROM x").unwrap();
        let err = GlobalScope::new(&df, &BuildArgs::default(), &amd64(), "").unwrap_err();
        assert_eq!(err.to_string(), "Dockerfile line 1: failed to process \"${B:?required}\": B: required");
    }

    #[test]
    fn unused_build_args() {
        let args = BuildArgs::new(
            ["USED", "UNUSED", "HTTP_PROXY", "TARGETARCH", "SOURCE_DATE_EPOCH", "BUILDKIT_INLINE_CACHE"]
                .map(|k| (k.to_owned(), "x".to_owned())),
        );
        let unused = args.unused(&BTreeSet::from(["USED".to_owned()]));
        assert_eq!(unused, ["UNUSED"]);
        assert_eq!(unused_args_warning(&unused).unwrap(), "one or more build-args [UNUSED] were not consumed");
        assert_eq!(unused_args_warning(&[]), None);
        assert_eq!(args.proxy_env(), [("HTTP_PROXY".to_owned(), "x".to_owned())]);
    }

    #[test]
    fn env_list_replaces_in_place() {
        let mut env = EnvList::from_config(&["PATH=/bin".into(), "A=1".into(), "B".into()]);
        env.set("PATH", "/usr/bin");
        env.set("C", "3");
        assert_eq!(env.to_config(), ["PATH=/usr/bin", "A=1", "B=", "C=3"]);
    }
}
