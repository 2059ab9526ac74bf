//! Config steps: a [`ConfigChange`] applied with `image::instructions`, so a Dockerfile and
//! `commit --change` follow the same rules.

use crate::build::dockerfile::Healthcheck;
use crate::build::steps::ConfigChange;
use crate::image::assemble::Assembly;
use crate::image::instructions::{CommandLine, HealthOptions, Instruction, InstructionError, StageState};

fn nanos(d: Option<std::time::Duration>) -> i64 {
    d.map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
}

/// The instruction for a change; None for MAINTAINER (the image's author, not its run config).
fn instruction(change: &ConfigChange, stage: &mut StageState) -> Option<Instruction> {
    Some(match change {
        ConfigChange::Env(pairs) => Instruction::Env(pairs.clone()),
        ConfigChange::Label(pairs) => Instruction::Label(pairs.clone()),
        ConfigChange::Cmd(argv) => Instruction::Cmd(CommandLine::Exec(argv.clone())),
        ConfigChange::Entrypoint { argv, reset_cmd } => {
            stage.cmd_set = !reset_cmd;
            Instruction::Entrypoint(CommandLine::Exec(argv.clone()))
        }
        ConfigChange::Shell(argv) => Instruction::Shell(argv.clone()),
        ConfigChange::User(user) => Instruction::User(user.clone()),
        ConfigChange::Workdir(path) => Instruction::Workdir(path.clone()),
        ConfigChange::Volumes(paths) => Instruction::Volume(paths.clone()),
        ConfigChange::Expose(ports) => Instruction::Expose(ports.clone()),
        ConfigChange::StopSignal(signal) => Instruction::StopSignal(signal.clone()),
        ConfigChange::Healthcheck(Healthcheck::None) => Instruction::Healthcheck(None),
        ConfigChange::Healthcheck(Healthcheck::Check(check)) => {
            let command = match check.test.split_first() {
                Some((kind, rest)) if kind == "CMD-SHELL" => CommandLine::Shell(rest.join(" ")),
                Some((_, rest)) => CommandLine::Exec(rest.to_vec()),
                None => CommandLine::Exec(Vec::new()),
            };
            let options = HealthOptions {
                interval: nanos(check.interval),
                timeout: nanos(check.timeout),
                start_period: nanos(check.start_period),
                start_interval: nanos(check.start_interval),
                retries: check.retries.map_or(0, i64::from),
            };
            Instruction::Healthcheck(Some((command, options)))
        }
        ConfigChange::OnBuild(trigger) => Instruction::Onbuild(trigger.clone()),
        ConfigChange::Maintainer(_) => return None,
    })
}

/// Applies `change` to the assembly's config.
pub fn apply(assembly: &mut Assembly, stage: &mut StageState, change: &ConfigChange) -> Result<(), InstructionError> {
    if let ConfigChange::Maintainer(name) = change {
        assembly.set_author(Some(name));
        return Ok(());
    }
    if let Some(instruction) = instruction(change, stage) {
        instruction.apply(assembly.run_config_mut(), stage)?;
    }
    Ok(())
}
