//! Stages: what each is based on, which stages the target needs, and an order to build them in.
//!
//! A stage depends on the stage its FROM names, on the stages its `COPY --from` and
//! `RUN --mount=…,from=` name, and on those its ONBUILD triggers name (triggers of a parent stage
//! are known from the Dockerfile; triggers of a base image are added by the builder once the
//! image config is known, see [`StageGraph::add_image_triggers`]). Only stages reachable from the
//! target are built. Every reference must name an earlier stage, so the graph has no cycles;
//! [`StageGraph::levels`] groups the reachable stages so that each group only needs earlier
//! groups: the stages of one group can be built in parallel.

use std::collections::{BTreeMap, BTreeSet};

use super::dockerfile::{Dockerfile, DockerfileError, Instruction, Lines, Located, parse_trigger, suggest};
use super::shell::Lexer;
use super::steps::Source;
use super::vars::GlobalScope;
use crate::image::spec::Platform;

/// What a stage starts from, after expansion of its FROM line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Base {
    Scratch,
    Stage(usize),
    /// An image reference (to resolve in the local store first, then the registry).
    Image(String),
}

#[derive(Debug, Clone)]
struct Node {
    base: Base,
    platform: Option<Platform>,
    deps: BTreeSet<usize>,
    /// Images named by `COPY --from` or `--mount=…,from=` (the base image is in `base`).
    images: BTreeSet<String>,
    /// ONBUILD triggers to run before the stage's own instructions.
    triggers: Vec<Located>,
}

/// The stages of a Dockerfile and their dependencies.
#[derive(Debug, Clone)]
pub struct StageGraph {
    nodes: Vec<Node>,
    names: Vec<Option<String>>,
    target: usize,
}

fn stage_label(names: &[Option<String>], index: usize) -> String {
    names[index].clone().unwrap_or_else(|| format!("stage-{index}"))
}

/// `COPY --from=X` in stage `current`: a stage index, an earlier stage's name (any case), or an
/// image.
pub fn resolve_copy_from(names: &[Option<String>], current: usize, from: &str) -> Result<Source, String> {
    let index = match from.parse::<i64>() {
        Ok(n) => {
            if n < 0 || n as usize >= names.len() {
                return Err(format!("invalid stage index {n}"));
            }
            n as usize
        }
        Err(_) => {
            let lower = from.to_ascii_lowercase();
            match names.iter().position(|n| n.as_deref() == Some(&lower)) {
                Some(index) => index,
                None => return Ok(Source::Image(from.to_owned())),
            }
        }
    };
    check_earlier(names, current, index, from)
}

/// `--mount=…,from=X`: an earlier stage's name (any case) or an image; no indexes.
pub fn resolve_mount_from(names: &[Option<String>], current: usize, from: &str) -> Result<Source, String> {
    let lower = from.to_ascii_lowercase();
    match names.iter().position(|n| n.as_deref() == Some(&lower)) {
        Some(index) => check_earlier(names, current, index, from),
        None => Ok(Source::Image(from.to_owned())),
    }
}

fn check_earlier(names: &[Option<String>], current: usize, index: usize, from: &str) -> Result<Source, String> {
    if index == current {
        return Err(format!("circular dependency detected on stage: {}", stage_label(names, current)));
    }
    if index > current {
        return Err(format!(
            "cannot copy from stage {from:?}, it needs to be defined before current stage {:?}",
            stage_label(names, current)
        ));
    }
    Ok(Source::Stage(index))
}

impl StageGraph {
    /// Expands every FROM with the global scope, resolves every reference and picks the target
    /// (`--target`, by name in any case; the last stage by default).
    pub fn new(
        dockerfile: &Dockerfile,
        scope: &GlobalScope,
        target: Option<&str>,
    ) -> Result<StageGraph, DockerfileError> {
        let names: Vec<Option<String>> = dockerfile.stages.iter().map(|s| s.name.clone()).collect();
        let lexer = Lexer::new(dockerfile.directives.escape);
        let mut nodes: Vec<Node> = Vec::new();
        for stage in &dockerfile.stages {
            let fail = |message: String| DockerfileError::new(stage.lines, message);
            let base_name = lexer.expand_word(&stage.base, &scope.env).map_err(|e| fail(e.to_string()))?;
            if base_name.is_empty() {
                return Err(fail(format!("base name ({}) should not be blank", stage.base)));
            }
            let base = match names[..stage.index].iter().position(|n| n.as_deref() == Some(base_name.as_str())) {
                Some(index) => Base::Stage(index),
                None if base_name == "scratch" => Base::Scratch,
                None => Base::Image(base_name),
            };
            let platform = match &stage.platform {
                None => None,
                Some(text) => {
                    let value = lexer
                        .expand_word(text, &scope.env)
                        .map_err(|e| fail(format!("failed to process arguments for platform {text}: {e}")))?;
                    if value.is_empty() {
                        return Err(fail(format!("empty platform value from expression {text}")));
                    }
                    Some(Platform::parse(&value).ok_or_else(|| fail(format!("failed to parse platform {value}")))?)
                }
            };
            let mut node =
                Node { base, platform, deps: BTreeSet::new(), images: BTreeSet::new(), triggers: Vec::new() };
            if let Base::Stage(parent) = node.base {
                node.deps.insert(parent);
                node.triggers = dockerfile.stages[parent]
                    .instructions
                    .iter()
                    .filter_map(|l| match &l.instruction {
                        Instruction::OnBuild(ob) => Some((*ob.trigger).clone()),
                        _ => None,
                    })
                    .collect();
            }
            let triggers = node.triggers.clone();
            for located in triggers.iter().chain(&stage.instructions) {
                add_references(&mut node, &names, stage.index, located)?;
            }
            nodes.push(node);
        }
        let target = match target {
            None => dockerfile.stages.len() - 1,
            Some(name) => {
                let lower = name.to_ascii_lowercase();
                let known: Vec<&str> = names.iter().flatten().map(String::as_str).collect();
                names.iter().position(|n| n.as_deref() == Some(&lower)).ok_or_else(|| {
                    DockerfileError::new(
                        dockerfile.stages[0].lines,
                        format!("target stage {name:?} could not be found{}", suggest(name, &known, "")),
                    )
                })?
            }
        };
        Ok(StageGraph { nodes, names, target })
    }

    pub fn target(&self) -> usize {
        self.target
    }

    /// The stage names by index (`None` for an unnamed stage).
    pub fn names(&self) -> &[Option<String>] {
        &self.names
    }

    pub fn base(&self, stage: usize) -> &Base {
        &self.nodes[stage].base
    }

    /// `FROM --platform=…`, expanded and parsed.
    pub fn platform(&self, stage: usize) -> Option<&Platform> {
        self.nodes[stage].platform.as_ref()
    }

    /// The stages `stage` needs built first.
    pub fn dependencies(&self, stage: usize) -> &BTreeSet<usize> {
        &self.nodes[stage].deps
    }

    /// Images `stage` reads files from (COPY --from, mounts), besides its base.
    pub fn images(&self, stage: usize) -> &BTreeSet<String> {
        &self.nodes[stage].images
    }

    /// ONBUILD triggers that run at the start of `stage`, in order.
    pub fn triggers(&self, stage: usize) -> &[Located] {
        &self.nodes[stage].triggers
    }

    /// The stages the target needs, itself included, in index order.
    pub fn reachable(&self) -> Vec<usize> {
        let mut seen = BTreeSet::new();
        let mut pending = vec![self.target];
        while let Some(stage) = pending.pop() {
            if seen.insert(stage) {
                pending.extend(self.nodes[stage].deps.iter().copied());
            }
        }
        seen.into_iter().collect()
    }

    /// The reachable stages in groups: every stage's dependencies are in earlier groups, so the
    /// stages of a group are independent of each other.
    pub fn levels(&self) -> Vec<Vec<usize>> {
        let mut level: BTreeMap<usize, usize> = BTreeMap::new();
        for stage in self.reachable() {
            // Dependencies have smaller indexes, so they already have their level.
            let depth = self.nodes[stage].deps.iter().map(|d| level[d] + 1).max().unwrap_or(0);
            level.insert(stage, depth);
        }
        let mut groups: Vec<Vec<usize>> = vec![Vec::new(); level.values().max().map_or(0, |m| m + 1)];
        for (stage, depth) in level {
            groups[depth].push(stage);
        }
        groups
    }

    /// Adds the ONBUILD triggers of `stage`'s base image (its config's `OnBuild`), which run
    /// before the stage's own instructions. Their references are resolved like the stage's own;
    /// `escape` is the Dockerfile's escape character.
    pub fn add_image_triggers(
        &mut self,
        stage: usize,
        triggers: &[String],
        lines: Lines,
        escape: char,
    ) -> Result<(), DockerfileError> {
        let mut parsed = Vec::new();
        for expression in triggers {
            let located = parse_trigger(expression, escape, lines)?;
            add_references(&mut self.nodes[stage], &self.names, stage, &located)?;
            parsed.push(located);
        }
        let node = &mut self.nodes[stage];
        parsed.append(&mut node.triggers);
        node.triggers = parsed;
        Ok(())
    }

    /// Every ARG name the reachable stages and their triggers declare, for the unused build arg
    /// warning.
    pub fn declared_args(&self, dockerfile: &Dockerfile) -> BTreeSet<String> {
        let mut names = BTreeSet::new();
        let mut add = |located: &Located| {
            if let Instruction::Arg(decls) = &located.instruction {
                names.extend(decls.iter().map(|d| d.name.clone()));
            }
        };
        dockerfile.global_args.iter().for_each(&mut add);
        for stage in self.reachable() {
            self.nodes[stage].triggers.iter().for_each(&mut add);
            dockerfile.stages[stage].instructions.iter().for_each(&mut add);
        }
        names
    }
}

fn add_references(
    node: &mut Node,
    names: &[Option<String>],
    current: usize,
    located: &Located,
) -> Result<(), DockerfileError> {
    let fail = |message: String| DockerfileError::new(located.lines, message);
    let mut add = |source: Source| match source {
        Source::Stage(index) => {
            node.deps.insert(index);
        }
        Source::Image(image) => {
            node.images.insert(image);
        }
        Source::Context => {}
    };
    match &located.instruction {
        Instruction::Copy(copy) => {
            if let Some(from) = &copy.from {
                add(resolve_copy_from(names, current, from).map_err(fail)?);
            }
        }
        Instruction::Run(run) => {
            for mount in &run.mounts {
                if let Some(from) = mount.from.as_deref().filter(|f| !f.is_empty()) {
                    add(resolve_mount_from(names, current, from).map_err(fail)?);
                }
            }
        }
        _ => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::build::dockerfile::parse;
    use crate::build::vars::{BuildArgs, Platforms};

    fn platforms() -> Platforms {
        let p = Platform { architecture: "amd64".into(), os: "linux".into(), variant: None, os_version: None };
        Platforms { build: p.clone(), target: p }
    }

    fn graph(text: &str, target: Option<&str>) -> Result<StageGraph, DockerfileError> {
        let df = parse(text.as_bytes()).unwrap();
        let scope = GlobalScope::new(&df, &BuildArgs::default(), &platforms(), target.unwrap_or(""))?;
        StageGraph::new(&df, &scope, target)
    }

    const MULTI: &str = "\
ARG GO=1.22
FROM golang:${GO} AS deps
FROM deps AS build
COPY --from=tools /x /x
FROM alpine AS tools
FROM deps AS test
RUN --mount=type=bind,from=build,target=/src go test
FROM scratch AS docs
COPY --from=nginx:latest /etc/nginx /n
FROM scratch
COPY --from=build /app /app
COPY --from=2 /t /t
";

    #[test]
    fn references_must_name_earlier_stages() {
        let err = graph(MULTI, None).unwrap_err();
        assert_eq!(
            err.to_string(),
            "Dockerfile line 4: cannot copy from stage \"tools\", it needs to be defined before current stage \"build\""
        );
        let err = graph("FROM a AS x\nCOPY --from=x /a /b", None).unwrap_err();
        assert_eq!(err.message, "circular dependency detected on stage: x");
        assert_eq!(graph("FROM a\nCOPY --from=3 /a /b", None).unwrap_err().message, "invalid stage index 3");
    }

    #[test]
    fn reachable_stages_and_parallel_levels() {
        let text = MULTI.replace("COPY --from=tools /x /x\n", "");
        let g = graph(&text, None).unwrap();
        assert_eq!(*g.base(0), Base::Image("golang:1.22".into()));
        assert_eq!(*g.base(1), Base::Stage(0));
        assert_eq!(*g.base(4), Base::Scratch);
        assert_eq!(g.target(), 5);
        assert_eq!(g.images(4).iter().collect::<Vec<_>>(), ["nginx:latest"]);
        // The last stage needs build (and so deps) and stage 2 (tools); not test or docs.
        assert_eq!(g.reachable(), [0, 1, 2, 5]);
        assert_eq!(g.levels(), vec![vec![0, 2], vec![1], vec![5]]);
        let g = graph(&text, Some("TEST")).unwrap();
        assert_eq!(g.reachable(), [0, 1, 3]);
        assert_eq!(g.dependencies(3).iter().collect::<Vec<_>>(), [&0, &1]);
        let err = graph(&text, Some("tset")).unwrap_err();
        assert_eq!(err.message, "target stage \"tset\" could not be found (did you mean test?)");
    }

    #[test]
    fn from_is_expanded_with_global_args() {
        let g = graph("ARG BASE=alpine\nARG P=linux/arm64\nFROM --platform=$P ${BASE}:3 AS a\nFROM a\n", None).unwrap();
        assert_eq!(*g.base(0), Base::Image("alpine:3".into()));
        assert_eq!(g.platform(0).map(|p| p.architecture.as_str()), Some("arm64"));
        assert_eq!(*g.base(1), Base::Stage(0));
        // A stage name is matched as written (FROM is case-sensitive), and only earlier stages.
        let g = graph("FROM a AS x\nFROM X\nFROM y\nFROM b AS y\n", None).unwrap();
        assert_eq!((g.base(1), g.base(2)), (&Base::Image("X".into()), &Base::Image("y".into())));
        assert_eq!(graph("ARG E\nFROM $E", None).unwrap_err().message, "base name ($E) should not be blank");
        assert_eq!(
            graph("ARG P\nFROM --platform=$P a", None).unwrap_err().message,
            "empty platform value from expression $P"
        );
    }

    #[test]
    fn onbuild_triggers_of_parent_stages_and_images() {
        let text = "FROM alpine AS tools\nFROM alpine AS base\nONBUILD COPY --from=tools /t /t\nONBUILD RUN make\nFROM base AS app\nFROM busybox AS img\n";
        let mut g = graph(text, Some("app")).unwrap();
        assert_eq!(g.triggers(2).len(), 2);
        assert_eq!(g.reachable(), [0, 1, 2]);
        assert_eq!(g.levels(), vec![vec![0, 1], vec![2]]);
        let lines = Lines::one(6);
        g.add_image_triggers(3, &["COPY --from=tools /a /b".into(), "RUN echo hi".into()], lines, '\\').unwrap();
        assert_eq!(g.triggers(3).len(), 2);
        assert!(g.dependencies(3).contains(&0));
        let err = g.add_image_triggers(3, &["ONBUILD RUN x".into()], lines, '\\').unwrap_err();
        assert_eq!(err.to_string(), "Dockerfile line 6: ONBUILD isn't allowed as an ONBUILD trigger");
    }

    #[test]
    fn declared_args_of_reachable_stages() {
        let df = parse(b"ARG G\nFROM a AS one\nARG A\nFROM b AS two\nARG B\n").unwrap();
        let scope = GlobalScope::new(&df, &BuildArgs::default(), &platforms(), "").unwrap();
        let g = StageGraph::new(&df, &scope, Some("two")).unwrap();
        assert_eq!(g.declared_args(&df).into_iter().collect::<Vec<_>>(), ["B", "G"]);
    }
}
