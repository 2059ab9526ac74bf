//! Slash-separated path arithmetic on strings, as Go's `path` package does it (Dockerfile paths
//! are image paths, not host paths: they are never looked up here).

/// Go's `path.Clean`: one slash between elements, no `.`, `..` applied lexically (and dropped
/// at the root), no trailing slash; `""` becomes `"."`.
pub fn clean(path: &str) -> String {
    let rooted = path.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|p| *p != "..") {
                    parts.pop();
                } else if !rooted {
                    parts.push("..");
                }
            }
            _ => parts.push(part),
        }
    }
    let joined = parts.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".to_owned(),
        (false, false) => joined,
    }
}

/// `path` made absolute against `base` (itself absolute) and cleaned.
pub fn join_clean(base: &str, path: &str) -> String {
    if path.starts_with('/') { clean(path) } else { clean(&format!("{base}/{path}")) }
}

/// [`join_clean`], keeping a trailing `/` (or a final `/.`) as a trailing `/`: for a COPY
/// destination the slash says "a directory".
pub fn join_keep_slash(base: &str, path: &str) -> String {
    let path = if path.is_empty() || path == "." { "./" } else { path };
    let joined = join_clean(base, path);
    let dir = path.ends_with('/') || path.ends_with("/.") || path == ".";
    if dir && joined != "/" { format!("{joined}/") } else { joined }
}

/// Whether `path`, taken relative to a root, climbs out of it (`../x`, `a/../../x`).
pub fn escapes_root(path: &str) -> bool {
    let mut depth: usize = 0;
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => match depth.checked_sub(1) {
                Some(d) => depth = d,
                None => return true,
            },
            _ => depth += 1,
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_like_go() {
        for (input, expected) in [
            ("", "."),
            ("/", "/"),
            ("a//b/./c/", "a/b/c"),
            ("/../a", "/a"),
            ("../a/..", ".."),
            ("a/../..", ".."),
            ("/a/b/../../..", "/"),
            ("./", "."),
        ] {
            assert_eq!(clean(input), expected, "{input}");
        }
    }

    #[test]
    fn joins() {
        assert_eq!(join_clean("/work", "a/../b"), "/work/b");
        assert_eq!(join_clean("/work", "/etc//x"), "/etc/x");
        assert_eq!(join_keep_slash("/work", "dir/"), "/work/dir/");
        assert_eq!(join_keep_slash("/work", "."), "/work/");
        assert_eq!(join_keep_slash("/", "."), "/");
        assert_eq!(join_keep_slash("/work", "file"), "/work/file");
        assert_eq!(join_keep_slash("/", "/app/."), "/app/");
    }

    #[test]
    fn escapes() {
        assert!(escapes_root("../x"));
        assert!(escapes_root("a/../../x"));
        assert!(!escapes_root("a/../x"));
        assert!(!escapes_root("/a/b"));
    }
}
