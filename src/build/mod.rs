//! `berth build`, front half: everything a build does before a step runs. The Dockerfile is
//! parsed and planned, the context prepared, every instruction expanded into a [`steps::Step`],
//! and each step given a cache key. Nothing here runs a container or commits a layer; the builder
//! that does calls this API (see ARCHITECTURE.md, "Build: parsing and context"):
//!
//! ```text
//! context::BuildContext::from_dir / from_stdin / from_tar      the context, its .dockerignore
//! dockerfile::parse(ctx.dockerfile())                          typed Dockerfile, warnings
//! vars::GlobalScope::new(&df, &build_args, &platforms, target) platform args, ARGs before FROM
//! stages::StageGraph::new(&df, &scope, target)                 bases, deps, reachable, levels
//!   per level, per stage (stages of one level in parallel):
//!   resolve graph.base(i) (builder); graph.add_image_triggers(i, &onbuild, …)
//!   expand::StageState::new(&df, i, &scope, &args, &base) / from_parent(&parent_state, i)
//!   for each of graph.triggers(i), then df.stages[i].instructions: state.expand(located)
//!     → Step { action: Run | Copy | Add | Workdir | Arg | Config(ConfigChange), created_by }
//!   COPY/ADD: copy_source::resolve(&ContextTree or &DirTree, …) → copy_source::placement
//!   cache: cache_key::base_key(…) then cache_key::step_key(parent, &step.action, &inputs)
//!          with inputs from digest::Hasher (stat_cache::StatCache keeps file digests)
//! vars::BuildArgs::unused(&graph.declared_args(&df))            the unused build-arg warning
//! epoch::resolve_epoch(…)                                      timestamps, mtime clamping
//! ```
//!
//! Depends only on `store`, `sandbox` and `image` (for `Platform`).

// Parts of the front half wait for what the builder does not do yet (RUN --mount, ADD of URLs
// and git, parallel stage levels, platforms): allowed to be unused until then.
#![allow(dead_code)]

pub mod builder;
pub mod cache_key;
pub mod context;
pub mod copy_source;
pub mod digest;
pub mod dockerfile;
pub mod epoch;
pub mod expand;
pub mod glob;
pub mod ignore;
pub mod paths;
#[cfg(test)]
mod robustness;
pub mod shell;
pub mod stages;
pub mod stat_cache;
pub mod steps;
pub mod vars;
