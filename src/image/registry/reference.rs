//! Image references, normalised the way Docker does it: `busybox` is
//! `docker.io/library/busybox:latest`, a first component with a dot, a colon or `localhost` is a
//! registry host.

use std::fmt;

use crate::store::{Algorithm, Digest};

pub const DOCKER_HUB: &str = "docker.io";
const MAX_NAME_LEN: usize = 255;

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ReferenceError {
    #[error("invalid reference format {0:?}: {1}")]
    Invalid(String, &'static str),
}

/// A parsed reference. `registry` is `None` when the user gave a short name (no host), so the
/// caller can apply its search registries.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Reference {
    pub registry: Option<String>,
    pub repository: String,
    pub tag: Option<String>,
    pub digest: Option<Digest>,
}

impl Reference {
    pub fn parse(input: &str) -> Result<Reference, ReferenceError> {
        let bad = |why| ReferenceError::Invalid(input.to_owned(), why);
        if input.is_empty() {
            return Err(bad("empty"));
        }
        if input.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(bad("contains whitespace or control characters"));
        }
        let (rest, digest) = match input.split_once('@') {
            Some((name, digest)) => {
                let digest = Digest::parse(digest)
                    .ok()
                    .filter(|d| d.algorithm() == Algorithm::Sha256)
                    .ok_or_else(|| bad("digest must be sha256: followed by 64 lowercase hex digits"))?;
                (name, Some(digest))
            }
            None => (input, None),
        };
        // A tag is after the last ':' that follows the last '/' (a ':' before it is a port).
        let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match rest[last_slash..].rfind(':') {
            Some(i) => (&rest[..last_slash + i], Some(&rest[last_slash + i + 1..])),
            None => (rest, None),
        };
        if let Some(tag) = tag
            && !is_valid_tag(tag)
        {
            return Err(bad("tag must be 1-128 of [A-Za-z0-9_.-], not starting with '.' or '-'"));
        }
        if name.is_empty() {
            return Err(bad("missing repository name"));
        }
        let (registry, path) = match name.split_once('/') {
            Some((first, path)) if looks_like_registry(first) => {
                if !is_valid_registry(first) {
                    return Err(bad("invalid registry host"));
                }
                (Some(first.to_owned()), path)
            }
            _ => (None, name),
        };
        if path.split('/').any(|c| !is_valid_path_component(c)) {
            return Err(bad(
                "repository name must be lowercase components of [a-z0-9] separated by '.', '_', '__' or '-', joined by '/'",
            ));
        }
        if name.len() > MAX_NAME_LEN {
            return Err(bad("repository name longer than 255 characters"));
        }
        Ok(Reference { registry, repository: path.to_owned(), tag: tag.map(str::to_owned), digest })
    }

    /// This reference with its registry filled in (and Docker Hub's `library/` prefix added for
    /// single-component names there).
    pub fn qualified_with(&self, registry: &str) -> Reference {
        let registry = self.registry.clone().unwrap_or_else(|| registry.to_owned());
        let repository = if registry == DOCKER_HUB && !self.repository.contains('/') {
            format!("library/{}", self.repository)
        } else {
            self.repository.clone()
        };
        let tag =
            if self.tag.is_none() && self.digest.is_none() { Some("latest".to_owned()) } else { self.tag.clone() };
        Reference { registry: Some(registry), repository, tag, digest: self.digest.clone() }
    }

    pub fn is_short_name(&self) -> bool {
        self.registry.is_none()
    }

    pub fn registry_or_hub(&self) -> &str {
        self.registry.as_deref().unwrap_or(DOCKER_HUB)
    }

    /// "registry/repository", e.g. "docker.io/library/busybox".
    pub fn repo_name(&self) -> String {
        format!("{}/{}", self.registry_or_hub(), self.repository)
    }

    /// "registry/repository:tag", when there is a tag.
    pub fn tagged_name(&self) -> Option<String> {
        self.tag.as_ref().map(|t| format!("{}:{t}", self.repo_name()))
    }

    /// "registry/repository@digest", when there is a digest.
    pub fn digested_name(&self) -> Option<String> {
        self.digest.as_ref().map(|d| format!("{}@{d}", self.repo_name()))
    }

    /// The repository and registry with another digest, for recording what a tag resolved to.
    pub fn with_digest(&self, digest: &str) -> String {
        format!("{}@{digest}", self.repo_name())
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(r) = &self.registry {
            write!(f, "{r}/")?;
        }
        write!(f, "{}", self.repository)?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

/// Shortens a fully qualified name for display the way Docker does: drop `docker.io/library/`
/// and `docker.io/`.
pub fn familiar_name(full: &str) -> &str {
    full.strip_prefix("docker.io/library/").or_else(|| full.strip_prefix("docker.io/")).unwrap_or(full)
}

fn looks_like_registry(first: &str) -> bool {
    first.contains('.') || first.contains(':') || first == "localhost" || first.chars().any(|c| c.is_ascii_uppercase())
}

fn is_valid_registry(host: &str) -> bool {
    let (name, port) = match host.rsplit_once(':') {
        Some((h, p)) if !h.ends_with(']') || h.starts_with('[') => (h, Some(p)),
        _ => (host, None),
    };
    let port_ok = port.is_none_or(|p| !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()));
    let name_ok = if name.starts_with('[') {
        name.ends_with(']') && name[1..name.len() - 1].parse::<std::net::Ipv6Addr>().is_ok()
    } else {
        !name.is_empty()
            && name.split('.').all(|label| {
                !label.is_empty()
                    && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                    && !label.starts_with('-')
                    && !label.ends_with('-')
            })
    };
    port_ok && name_ok
}

fn is_valid_path_component(c: &str) -> bool {
    let bytes = c.as_bytes();
    if bytes.is_empty() || !is_alnum_lower(bytes[0]) || !is_alnum_lower(bytes[bytes.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if is_alnum_lower(b) {
            i += 1;
            continue;
        }
        // Separators: '.', '_', '__', or a run of '-'.
        let run_end = bytes[i..].iter().position(|&x| x != b).map_or(bytes.len(), |p| i + p);
        let run = run_end - i;
        let ok = match b {
            b'.' => run == 1,
            b'_' => run <= 2,
            b'-' => true,
            _ => false,
        };
        if !ok {
            return false;
        }
        i = run_end;
    }
    true
}

fn is_alnum_lower(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit()
}

fn is_valid_tag(tag: &str) -> bool {
    let b = tag.as_bytes();
    !b.is_empty()
        && b.len() <= 128
        && (b[0].is_ascii_alphanumeric() || b[0] == b'_')
        && b.iter().all(|&c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(s: &str) -> String {
        Reference::parse(s).unwrap().qualified_with(DOCKER_HUB).to_string()
    }

    #[test]
    fn short_names_follow_docker() {
        assert_eq!(q("busybox"), "docker.io/library/busybox:latest");
        assert_eq!(q("user/app:1"), "docker.io/user/app:1");
        assert_eq!(q("docker.io/library/debian:bookworm"), "docker.io/library/debian:bookworm");
        assert_eq!(q("127.0.0.1:5000/app:1"), "127.0.0.1:5000/app:1");
        assert_eq!(q("localhost/app"), "localhost/app:latest");
        assert_eq!(q("localhost:5000/a/b/c"), "localhost:5000/a/b/c:latest");
    }

    #[test]
    fn digests_are_kept_without_a_latest_tag() {
        let d = format!("sha256:{}", "0".repeat(64));
        assert_eq!(q(&format!("ghcr.io/owner/img@{d}")), format!("ghcr.io/owner/img@{d}"));
        assert_eq!(q(&format!("img:1@{d}")), format!("docker.io/library/img:1@{d}"));
    }

    #[test]
    fn malformed_references_are_refused() {
        for bad in [
            "",
            "UPPER",
            "a//b",
            "a:",
            ":tag",
            "a@sha256:123",
            "a@md5:0",
            "-a",
            "a-",
            "a..b",
            "a___b",
            "a b",
            "host:port/x",
            "x:-tag",
            "ex ample.com/x",
            "a/b:t:u",
            "bad\0ref",
        ] {
            assert!(Reference::parse(bad).is_err(), "{bad:?} should be refused");
        }
        assert!(Reference::parse(&"a".repeat(256)).is_err());
    }

    #[test]
    fn separators_inside_components_are_allowed() {
        for good in ["a_b", "a__b", "a.b", "a---b", "a-b_c.d", "reg.example.com:443/x/y:v1.2_3-rc"] {
            assert!(Reference::parse(good).is_ok(), "{good:?} should be accepted");
        }
    }

    #[test]
    fn familiar_names_drop_docker_hub() {
        assert_eq!(familiar_name("docker.io/library/busybox:latest"), "busybox:latest");
        assert_eq!(familiar_name("docker.io/me/x:1"), "me/x:1");
        assert_eq!(familiar_name("quay.io/me/x:1"), "quay.io/me/x:1");
    }
}
