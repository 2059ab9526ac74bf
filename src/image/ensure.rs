//! The image a container is made from, pulled first when the pull policy says so: what
//! `run`/`create --pull`, compose's `pull_policy` and the API's create call all decide the same
//! way.

use std::str::FromStr;

use super::ImageError;
use super::lookup::lookup;
use super::progress::Progress;
use super::pull::{PullRequest, pull};
use super::registry::RegistryError;
use super::registry::credentials::CredentialSource;
use super::spec::Platform;
use crate::config::Settings;
use crate::store::{ImageRecord, Store, StoreError};

/// When to pull, with the names Docker (`always`, `missing`, `never`) and Podman (also
/// `newer`) give the policies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PullPolicy {
    /// Pull every time; the local image is not used if the pull fails.
    Always,
    /// Pull only when there is no local image of that name.
    #[default]
    Missing,
    /// Never pull: a missing image is an error.
    Never,
    /// Pull when the registry has a different image under the name (layers already here are
    /// not fetched again); keep using the local one when the registry cannot be asked.
    Newer,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid pull policy {0:?}: use always, missing, never or newer")]
pub struct BadPullPolicy(pub String);

impl PullPolicy {
    pub fn as_str(self) -> &'static str {
        match self {
            PullPolicy::Always => "always",
            PullPolicy::Missing => "missing",
            PullPolicy::Never => "never",
            PullPolicy::Newer => "newer",
        }
    }
}

impl std::fmt::Display for PullPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for PullPolicy {
    type Err = BadPullPolicy;

    /// The four names in any case, and the other spellings Podman and Kubernetes use for them
    /// (`ifmissing`, `IfNotPresent`, `ifnewer`, `true`/`false` for always/never).
    fn from_str(text: &str) -> Result<PullPolicy, BadPullPolicy> {
        match text.to_ascii_lowercase().as_str() {
            "always" | "true" => Ok(PullPolicy::Always),
            "missing" | "ifmissing" | "ifnotpresent" | "if_not_present" => Ok(PullPolicy::Missing),
            "never" | "false" => Ok(PullPolicy::Never),
            "newer" | "ifnewer" => Ok(PullPolicy::Newer),
            _ => Err(BadPullPolicy(text.to_owned())),
        }
    }
}

pub struct EnsureRequest<'a> {
    /// The image as the user wrote it.
    pub reference: &'a str,
    pub policy: PullPolicy,
    pub platform: Option<Platform>,
    pub credentials: &'a CredentialSource,
}

/// The local image `request.reference` names, pulled first as `request.policy` says. Takes the
/// image lock, shared, to look it up, and what [`pull`] takes when it pulls. A pull for a
/// missing image shows its progress; one for `always` or `newer` is quiet unless it fails.
pub fn ensure_image(store: &Store, settings: &Settings, request: &EnsureRequest) -> Result<ImageRecord, ImageError> {
    let local = || match lookup(store, settings, request.reference) {
        Ok(image) => Ok(Some(image)),
        Err(ImageError::Store(StoreError::ImageNotFound(_))) => Ok(None),
        Err(e) => Err(e),
    };
    let pulled = |quiet: bool| -> Result<ImageRecord, ImageError> {
        let outcome = pull(
            store,
            settings,
            &PullRequest {
                reference: request.reference,
                platform: request.platform.clone(),
                quiet,
                credentials: request.credentials,
            },
        )?;
        lookup(store, settings, &outcome.id)
    };
    match request.policy {
        PullPolicy::Always => pulled(true),
        PullPolicy::Never => match local()? {
            Some(image) => Ok(image),
            None => Err(StoreError::ImageNotFound(request.reference.to_owned()).into()),
        },
        PullPolicy::Missing => match local()? {
            Some(image) => Ok(image),
            None => {
                Progress::Lines.message(&format!("Unable to find image '{}' locally", request.reference));
                pulled(false)
            }
        },
        PullPolicy::Newer => match local()? {
            None => pulled(false),
            Some(image) => match pulled(true) {
                Err(ImageError::Registry(
                    e @ (RegistryError::NotFound(_)
                    | RegistryError::Transport { .. }
                    | RegistryError::Unauthorized { .. }),
                )) => {
                    Progress::Lines.warning(&format!("using the local image: checking for a newer one: {e}"));
                    Ok(image)
                }
                other => other,
            },
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pull_policies_parse_by_docker_and_podman_names() {
        for (text, policy) in [
            ("always", PullPolicy::Always),
            ("Always", PullPolicy::Always),
            ("true", PullPolicy::Always),
            ("missing", PullPolicy::Missing),
            ("IfNotPresent", PullPolicy::Missing),
            ("ifmissing", PullPolicy::Missing),
            ("never", PullPolicy::Never),
            ("false", PullPolicy::Never),
            ("newer", PullPolicy::Newer),
            ("ifnewer", PullPolicy::Newer),
        ] {
            assert_eq!(text.parse::<PullPolicy>(), Ok(policy), "{text}");
        }
        for policy in [PullPolicy::Always, PullPolicy::Missing, PullPolicy::Never, PullPolicy::Newer] {
            assert_eq!(policy.to_string().parse::<PullPolicy>(), Ok(policy));
        }
        assert_eq!(PullPolicy::default(), PullPolicy::Missing);
        let err = "sometimes".parse::<PullPolicy>().unwrap_err();
        assert_eq!(err.to_string(), r#"invalid pull policy "sometimes": use always, missing, never or newer"#);
        assert!("".parse::<PullPolicy>().is_err());
    }
}
