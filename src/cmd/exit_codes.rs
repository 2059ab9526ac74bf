//! Which exit status a failed command ends with, by Docker's rules.
//!
//! Docker's CLI exits 125 for a usage error, 1 when the request was understood and refused (no
//! such object, a conflict, an object in the wrong state) and for a failed pull, push or login;
//! `run` and `create` exit 125 for anything but the container's command, which gives 126
//! (cannot be invoked) or 127 (not found), and `exec` gives those two for its command too.
//! berth adds one rule of its own: a failure of berth itself (the store, the system) is 125.

use std::sync::OnceLock;

use crate::container::index::ContainerError;
use crate::container::lifecycle::LifecycleError;
use crate::container::resource_update::UpdateError;
use crate::container::start::StartError;
use crate::container::volumes::VolumeError;
use crate::image::remove::RemoveError;
use crate::network::NetworkError;
use crate::store::StoreError;

/// Usage errors, and failures of berth itself.
pub const USAGE_OR_TOOL: u8 = crate::EXIT_TOOL_ERROR;
/// A refused request, as Docker's "Error response from daemon".
pub const REFUSED: u8 = 1;

/// How a verb's failures map to exit codes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Policy {
    /// run, create: 125, or 126/127 from the container's command.
    Run,
    /// exec: 126/127 from its command, 1 when refused, else 125.
    Exec,
    /// start, restart, attach: a container that cannot start is a refused request (1).
    Start,
    /// pull, push, login, build, compose: every failure is 1 (a usage error is clap's 125).
    Whole,
    /// Everything else: 1 when refused, else 125.
    Other,
}

static POLICY: OnceLock<Policy> = OnceLock::new();

/// The policy of the command about to run, named by its verbs (`["container", "rm"]`); errors
/// before this (configuration, the user namespace) are berth's own: 125.
pub fn set_policy(verbs: &[&str]) {
    let _ = POLICY.set(policy_of(verbs));
}

pub fn policy_of(verbs: &[&str]) -> Policy {
    let verb = match verbs {
        ["container" | "image", verb, ..] => *verb,
        [verb, ..] => *verb,
        [] => "",
    };
    match verb {
        "run" | "create" => Policy::Run,
        "exec" => Policy::Exec,
        "start" | "restart" | "attach" => Policy::Start,
        "pull" | "push" | "login" | "build" | "compose" => Policy::Whole,
        _ => Policy::Other,
    }
}

/// The man page's EXIT STATUS section for the command named by `verbs`.
pub fn man_section(verbs: &[&str]) -> &'static str {
    if verbs.is_empty() {
        return "125 for a usage error or a failure of berth itself; 1 when the request is refused \
                (no such container, image, volume or network, a conflict such as a name or volume in use, an \
                object in the wrong state) and for a failed pull, push, login, build or compose; run, create and exec exit 126 when \
                the container's command cannot be invoked and 127 when it is not found, and otherwise with the \
                container's own code (run, start \\-a, exec).";
    }
    match policy_of(verbs) {
        Policy::Run => {
            "The container's exit code once it ran (with \\-d: 0); 125 for a usage error or when the \
             container cannot be created or started; 126 when its command cannot be invoked; 127 when its \
             command is not found."
        }
        Policy::Exec => {
            "The command's exit code; 1 when the container does not exist or is not running; 126 when the \
             command cannot be invoked; 127 when it is not found; 125 for a usage error or a failure of \
             berth itself."
        }
        Policy::Start => {
            "0, or with \\-a the container's exit code; 1 when a container does not exist, is in the wrong \
             state or cannot be started (its command not found included); 125 for a usage error or a \
             failure of berth itself."
        }
        Policy::Whole => "0 on success; 1 when it fails; 125 for a usage error.",
        Policy::Other => {
            "0 on success; 1 when the request is refused: an object that does not exist, a conflict (a name \
             or a volume in use, a running container to rm without \\-f), an object in the wrong state; 125 \
             for a usage error or a failure of berth itself."
        }
    }
}

/// The exit status for `error` under the current command's policy.
pub fn exit_code_for(error: &anyhow::Error) -> u8 {
    code_under(POLICY.get().copied(), error)
}

pub fn code_under(policy: Option<Policy>, error: &anyhow::Error) -> u8 {
    let causes: Vec<&(dyn std::error::Error + 'static)> = error.chain().flat_map(unwrapped).collect();
    let command_code = causes
        .iter()
        .filter_map(|cause| cause.downcast_ref::<StartError>())
        .find(|e| matches!(e, StartError::Failed { .. }))
        .map(|e| e.exit_code().clamp(1, 255) as u8);
    let refused = causes.iter().any(|c| is_refusal(*c));
    let start_failed = causes.iter().any(|c| c.is::<StartError>());
    match policy {
        None => USAGE_OR_TOOL,
        Some(Policy::Run) => command_code.unwrap_or(USAGE_OR_TOOL),
        Some(Policy::Exec) => match command_code {
            Some(code) => code,
            None if refused => REFUSED,
            None => USAGE_OR_TOOL,
        },
        Some(Policy::Whole) => REFUSED,
        Some(Policy::Start) if refused || start_failed => REFUSED,
        Some(Policy::Start | Policy::Other) if refused => REFUSED,
        Some(Policy::Start | Policy::Other) => USAGE_OR_TOOL,
    }
}

/// `cause` and the errors inside its `transparent` variants, which `source()` skips.
fn unwrapped<'a>(cause: &'a (dyn std::error::Error + 'static)) -> Vec<&'a (dyn std::error::Error + 'static)> {
    let mut all = vec![cause];
    let mut current = cause;
    while let Some(inner) = transparent_inner(current) {
        all.push(inner);
        current = inner;
    }
    all
}

fn transparent_inner<'a>(
    cause: &'a (dyn std::error::Error + 'static),
) -> Option<&'a (dyn std::error::Error + 'static)> {
    if let Some(e) = cause.downcast_ref::<LifecycleError>() {
        return match e {
            LifecycleError::Container(inner) => Some(inner),
            LifecycleError::Start(inner) => Some(inner),
            _ => None,
        };
    }
    if let Some(e) = cause.downcast_ref::<StartError>() {
        return match e {
            StartError::Container(inner) => Some(inner),
            _ => None,
        };
    }
    if let Some(UpdateError::Container(inner)) = cause.downcast_ref::<UpdateError>() {
        return Some(inner);
    }
    if let Some(e) = cause.downcast_ref::<ContainerError>() {
        return match e {
            ContainerError::Store(inner) => Some(inner),
            ContainerError::Volume(inner) => Some(inner),
            _ => None,
        };
    }
    if let Some(crate::image::ImageError::Store(inner)) = cause.downcast_ref::<crate::image::ImageError>() {
        return Some(inner);
    }
    if let Some(VolumeError::Store(inner)) = cause.downcast_ref::<VolumeError>() {
        return Some(inner);
    }
    if let Some(NetworkError::Store(inner)) = cause.downcast_ref::<NetworkError>() {
        return Some(inner);
    }
    None
}

/// Whether `cause` says the request was understood and refused: the object does not exist,
/// conflicts with another, or is in a state that does not allow it.
fn is_refusal(cause: &(dyn std::error::Error + 'static)) -> bool {
    // The daemon's answer in Docker ("Error response from daemon: Cannot update container"):
    // every check of the new limits, as the kernel's refusal of one.
    if let Some(e) = cause.downcast_ref::<UpdateError>() {
        return !matches!(e, UpdateError::Container(_));
    }
    if let Some(crate::container::log_config::LogConfigError::NoReading) = cause.downcast_ref() {
        return true;
    }
    if let Some(e) = cause.downcast_ref::<ContainerError>() {
        return matches!(
            e,
            ContainerError::NotFound(_)
                | ContainerError::Ambiguous(_)
                | ContainerError::NameInUse { .. }
                | ContainerError::InvalidName(_)
                | ContainerError::WrongState { .. }
        );
    }
    if let Some(e) = cause.downcast_ref::<LifecycleError>() {
        return matches!(
            e,
            LifecycleError::NotRunning(_)
                | LifecycleError::AlreadyPaused(_)
                | LifecycleError::NotPaused(_)
                | LifecycleError::Running
                | LifecycleError::NetworkShared { .. }
        );
    }
    if let Some(e) = cause.downcast_ref::<VolumeError>() {
        return matches!(
            e,
            VolumeError::NotFound(_)
                | VolumeError::InUse { .. }
                | VolumeError::InvalidName(_)
                | VolumeError::NameTooShort(_)
        );
    }
    if let Some(e) = cause.downcast_ref::<StoreError>() {
        return matches!(e, StoreError::ImageNotFound(_) | StoreError::Ambiguous(_));
    }
    if cause.is::<RemoveError>() {
        return true;
    }
    if let Some(e) = cause.downcast_ref::<NetworkError>() {
        return matches!(
            e,
            NetworkError::NotFound(_)
                | NetworkError::Ambiguous(_)
                | NetworkError::Exists(_)
                | NetworkError::InvalidName(_)
                | NetworkError::Predefined(_)
                | NetworkError::InUse { .. }
                | NetworkError::AlreadyAttached { .. }
        );
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn not_found() -> anyhow::Error {
        anyhow::Error::from(ContainerError::NotFound("x".into())).context("cannot stop container x")
    }

    fn command_missing() -> anyhow::Error {
        anyhow::Error::from(StartError::Failed { code: 127, message: "not found".into() })
    }

    fn tool() -> anyhow::Error {
        anyhow::anyhow!("reading the store")
    }

    #[test]
    fn each_policy_maps_each_kind_of_failure() {
        let rows = [
            (Some(Policy::Other), not_found(), 1),
            (Some(Policy::Other), tool(), 125),
            (Some(Policy::Run), not_found(), 125),
            (Some(Policy::Run), command_missing(), 127),
            (Some(Policy::Exec), command_missing(), 127),
            (Some(Policy::Exec), not_found(), 1),
            (Some(Policy::Exec), tool(), 125),
            (Some(Policy::Start), command_missing(), 1),
            (Some(Policy::Start), tool(), 125),
            (Some(Policy::Whole), tool(), 1),
            (None, not_found(), 125),
        ];
        for (policy, error, code) in rows {
            assert_eq!(code_under(policy, &error), code, "{policy:?}: {error:#}");
        }
    }

    #[test]
    fn verbs_name_their_policy() {
        assert_eq!(policy_of(&["run"]), Policy::Run);
        assert_eq!(policy_of(&["container", "create"]), Policy::Run);
        assert_eq!(policy_of(&["container", "exec"]), Policy::Exec);
        assert_eq!(policy_of(&["start"]), Policy::Start);
        assert_eq!(policy_of(&["image", "pull"]), Policy::Whole);
        assert_eq!(policy_of(&["volume", "rm"]), Policy::Other);
        assert_eq!(policy_of(&["network", "create"]), Policy::Other, "only container/image run verbs");
    }

    #[test]
    fn a_refusal_deep_in_the_chain_counts() {
        let e = anyhow::Error::from(LifecycleError::Container(ContainerError::NotFound("x".into())));
        assert_eq!(code_under(Some(Policy::Other), &e), 1);
        let e = anyhow::Error::from(VolumeError::InUse { name: "v".into(), containers: vec![] }).context("rm");
        assert_eq!(code_under(Some(Policy::Other), &e), 1);
    }
}
