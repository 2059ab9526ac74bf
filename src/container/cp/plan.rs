//! Docker's cp path rules (its SplitPathDirEntry and PrepareArchiveCopy): where an archive of a
//! source is extracted, and whether its top entry is renamed on the way.

use std::path::{Component, Path, PathBuf};

use super::CopyError;

/// A relative path inside a root for a user's container path: "/a/./b/" → "a/b"; "/" → "".
/// ".." components are kept: RESOLVE_IN_ROOT stops them at the root.
pub fn relative(path: &str) -> PathBuf {
    Path::new(path).components().filter(|c| matches!(c, Component::Normal(_) | Component::ParentDir)).collect()
}

/// Docker's SplitPathDirEntry: "/a/b/" → ("/a", "b"); "/a/b/." → ("/a/b", "."); "b" → (".", "b").
pub fn split_dir_entry(path: &str) -> (String, String) {
    let contents_only = path == "." || path.ends_with("/.");
    let cleaned: PathBuf = Path::new(path).components().filter(|c| !matches!(c, Component::CurDir)).collect();
    let cleaned = cleaned.display().to_string();
    let (dir, base) = if contents_only {
        (if cleaned.is_empty() { ".".to_owned() } else { cleaned }, ".".to_owned())
    } else {
        match cleaned.rsplit_once('/') {
            Some(("", base)) => ("/".to_owned(), base.to_owned()),
            Some((dir, base)) => (dir.to_owned(), base.to_owned()),
            None if cleaned == "/" || cleaned.is_empty() => (cleaned.clone(), ".".to_owned()),
            None => (".".to_owned(), cleaned),
        }
    };
    (dir, if base.is_empty() { ".".to_owned() } else { base })
}

/// The name a source is archived under: its last component, "." for `dir/.` or `/`.
pub fn archive_name(path: &str) -> String {
    split_dir_entry(path).1
}

/// True when `path` says it is a directory: a trailing `/` or `/.`.
pub fn asserts_directory(path: &str) -> bool {
    path.ends_with('/') || path.ends_with("/.") || path == "."
}

/// Where to extract an archive of a source and how to rename its top entry (Docker's
/// PrepareArchiveCopy).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyPlan {
    pub extract_dir: String,
    pub rename: Option<(String, String)>,
}

/// `destination_is_dir`: None when nothing is at the destination.
pub fn plan_copy(
    source_is_dir: bool,
    source_name: &str,
    destination: &str,
    destination_is_dir: Option<bool>,
) -> Result<CopyPlan, CopyError> {
    let (dst_dir, dst_base) = split_dir_entry(destination);
    let renamed =
        |dir: String| Ok(CopyPlan { extract_dir: dir, rename: Some((source_name.to_owned(), dst_base.clone())) });
    match destination_is_dir {
        Some(true) => Ok(CopyPlan { extract_dir: destination.to_owned(), rename: None }),
        Some(false) if source_is_dir => {
            Err(CopyError::Invalid(format!("cannot copy a directory to a file: {destination} is a file")))
        }
        Some(false) => renamed(dst_dir),
        None if source_is_dir => renamed(dst_dir),
        None if asserts_directory(destination) => {
            Err(CopyError::Invalid(format!("destination directory {destination} does not exist")))
        }
        None => renamed(dst_dir),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_split_like_dockers() {
        assert_eq!(split_dir_entry("/a/b"), ("/a".into(), "b".into()));
        assert_eq!(split_dir_entry("/a/b/"), ("/a".into(), "b".into()));
        assert_eq!(split_dir_entry("/a/b/."), ("/a/b".into(), ".".into()));
        assert_eq!(split_dir_entry("b"), (".".into(), "b".into()));
        assert_eq!(split_dir_entry("/b"), ("/".into(), "b".into()));
        assert_eq!(archive_name("/"), ".");
        assert!(asserts_directory("/x/") && asserts_directory("/x/.") && !asserts_directory("/x"));
        assert_eq!(relative("/a/./b/"), PathBuf::from("a/b"));
        assert_eq!(relative("/"), PathBuf::new());
    }

    #[test]
    fn plans_follow_docker_for_every_case() {
        let plan = |is_dir, name, dst, exists| plan_copy(is_dir, name, dst, exists);
        // Into an existing directory: as it is.
        assert_eq!(plan(false, "f", "/d", Some(true)).unwrap(), CopyPlan { extract_dir: "/d".into(), rename: None });
        assert_eq!(plan(true, ".", "/d", Some(true)).unwrap().rename, None);
        // Over an existing file: renamed.
        assert_eq!(
            plan(false, "f", "/d/g", Some(false)).unwrap(),
            CopyPlan { extract_dir: "/d".into(), rename: Some(("f".into(), "g".into())) }
        );
        assert!(
            plan(true, "dir", "/d/g", Some(false))
                .unwrap_err()
                .to_string()
                .contains("cannot copy a directory to a file")
        );
        // To a new name: renamed, a directory made of the source's content.
        assert_eq!(plan(true, "dir", "/d/new", None).unwrap().rename, Some(("dir".into(), "new".into())));
        assert_eq!(
            plan(true, ".", "/d/new/", None).unwrap(),
            CopyPlan { extract_dir: "/d".into(), rename: Some((".".into(), "new".into())) }
        );
        assert!(plan(false, "f", "/d/new/", None).unwrap_err().to_string().contains("does not exist"));
        assert_eq!(
            plan(false, "f", "g", None).unwrap(),
            CopyPlan { extract_dir: ".".into(), rename: Some(("f".into(), "g".into())) }
        );
    }
}
