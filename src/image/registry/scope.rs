//! What a token is asked for: the `scope` parameters of the distribution token protocol.
//!
//! A pull needs `repository:NAME:pull`; a push `repository:NAME:pull,push` (pull too: a push
//! HEADs blobs first to skip what the registry has). A cross-repository mount (`POST
//! /v2/TARGET/blobs/uploads/?mount=DIGEST&from=SOURCE`) needs both in one token: push on the
//! target and pull on the source, or the registry quietly starts an ordinary upload instead.

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Action {
    Pull,
    Push,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Pull => "pull",
            Action::Push => "push",
        }
    }
}

/// Access to one repository: `repository:NAME:ACTION[,ACTION]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    /// The repository path inside the registry, e.g. `library/busybox`.
    pub repository: String,
    /// Sorted, without repeats (pull before push, as registries and Docker write them).
    actions: Vec<Action>,
}

impl Scope {
    pub fn new(repository: impl Into<String>, actions: &[Action]) -> Scope {
        let mut actions = actions.to_vec();
        actions.sort();
        actions.dedup();
        Scope { repository: repository.into(), actions }
    }

    pub fn pull(repository: impl Into<String>) -> Scope {
        Scope::new(repository, &[Action::Pull])
    }

    /// Push implies pull.
    pub fn push(repository: impl Into<String>) -> Scope {
        Scope::new(repository, &[Action::Pull, Action::Push])
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "repository:{}:", self.repository)?;
        for (i, action) in self.actions.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            f.write_str(action.as_str())?;
        }
        Ok(())
    }
}

/// What one operation on a registry needs a token for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Access {
    /// Nothing in particular: `login` proves the credentials, for no repository.
    Registry,
    Pull {
        repository: String,
    },
    Push {
        repository: String,
    },
    /// Mounting a blob of `source` into `target` (both in the same registry).
    Mount {
        target: String,
        source: String,
    },
}

impl Access {
    /// The scopes to ask the token server for, each one `scope` query parameter.
    pub fn scopes(&self) -> Vec<Scope> {
        match self {
            Access::Registry => Vec::new(),
            Access::Pull { repository } => vec![Scope::pull(repository.clone())],
            Access::Push { repository } => vec![Scope::push(repository.clone())],
            Access::Mount { target, source } if target == source => vec![Scope::push(target.clone())],
            Access::Mount { target, source } => vec![Scope::push(target.clone()), Scope::pull(source.clone())],
        }
    }

    /// The repository the requests of this operation address.
    pub fn repository(&self) -> Option<&str> {
        match self {
            Access::Registry => None,
            Access::Pull { repository } | Access::Push { repository } => Some(repository),
            Access::Mount { target, .. } => Some(target),
        }
    }

    pub fn needs_push(&self) -> bool {
        matches!(self, Access::Push { .. } | Access::Mount { .. })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(access: Access) -> Vec<String> {
        access.scopes().iter().map(Scope::to_string).collect()
    }

    #[test]
    fn scope_strings_follow_the_token_protocol() {
        assert_eq!(Scope::pull("library/busybox").to_string(), "repository:library/busybox:pull");
        assert_eq!(Scope::push("team/app").to_string(), "repository:team/app:pull,push");
        assert_eq!(
            Scope::new("a/b", &[Action::Push, Action::Pull, Action::Push]).to_string(),
            "repository:a/b:pull,push"
        );
    }

    #[test]
    fn each_operation_asks_for_what_it_needs() {
        assert!(strings(Access::Registry).is_empty());
        assert_eq!(strings(Access::Pull { repository: "library/alpine".into() }), ["repository:library/alpine:pull"]);
        assert_eq!(strings(Access::Push { repository: "me/app".into() }), ["repository:me/app:pull,push"]);
        assert_eq!(
            strings(Access::Mount { target: "me/app".into(), source: "library/alpine".into() }),
            ["repository:me/app:pull,push", "repository:library/alpine:pull"]
        );
        assert_eq!(
            strings(Access::Mount { target: "me/app".into(), source: "me/app".into() }),
            ["repository:me/app:pull,push"]
        );
        let mount = Access::Mount { target: "t".into(), source: "s".into() };
        assert_eq!((mount.repository(), mount.needs_push()), (Some("t"), true));
        assert!(!Access::Pull { repository: "p".into() }.needs_push());
    }
}
