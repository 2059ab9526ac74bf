//! The build's timestamp, for reproducible images: `SOURCE_DATE_EPOCH` (a build arg, else the
//! environment), else the commit time of the git HEAD of the repository holding the context,
//! else 0. New files' times are clamped to it ([`clamp_mtime`]), and the image config and history
//! use it as their creation time.
//!
//! The commit time is read from the `.git` directory itself when that is cheap (a loose commit
//! object, or a non-deltified one in a pack, found through HEAD, a loose ref or packed-refs; a
//! worktree's `gitdir:` file and `commondir` are followed), else from `git log -1 --format=%ct`
//! when git is installed.

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::vars::BuildArgs;

/// Where the epoch came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EpochSource {
    BuildArg,
    Environment,
    GitCommit,
    /// Nothing set it: the Unix epoch.
    Default,
    /// `--timestamp`, a number of seconds.
    Flag,
    /// `--timestamp now`: the build's start, not reproducible (and kept out of cache keys, so a
    /// rebuild still uses the cache).
    Now,
}

/// `--timestamp`: `now`, or seconds since 1970; it wins over SOURCE_DATE_EPOCH and git.
pub fn parse_timestamp(text: &str) -> Result<Epoch, String> {
    if text == "now" {
        let seconds = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
        return Ok(Epoch { seconds: seconds as i64, source: EpochSource::Now });
    }
    parse_epoch(text)
        .map(|seconds| Epoch { seconds, source: EpochSource::Flag })
        .map_err(|_| "expected \"now\" or a number of seconds since 1970".to_owned())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Epoch {
    pub seconds: i64,
    pub source: EpochSource,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid SOURCE_DATE_EPOCH {0:?}: a number of seconds since 1970 is expected")]
pub struct EpochError(pub String);

fn parse_epoch(text: &str) -> Result<i64, EpochError> {
    text.trim().parse::<i64>().ok().filter(|s| *s >= 0).ok_or_else(|| EpochError(text.to_owned()))
}

/// Decides the epoch: the build arg, then `environment` (the process's `SOURCE_DATE_EPOCH`), then
/// git for a directory context, then 0.
pub fn resolve_epoch(
    build_args: &BuildArgs,
    environment: Option<&str>,
    context_dir: Option<&Path>,
) -> Result<Epoch, EpochError> {
    if let Some(value) = build_args.get("SOURCE_DATE_EPOCH").filter(|v| !v.is_empty()) {
        return Ok(Epoch { seconds: parse_epoch(value)?, source: EpochSource::BuildArg });
    }
    if let Some(value) = environment.filter(|v| !v.is_empty()) {
        return Ok(Epoch { seconds: parse_epoch(value)?, source: EpochSource::Environment });
    }
    if let Some(seconds) = context_dir.and_then(git_commit_time) {
        return Ok(Epoch { seconds, source: EpochSource::GitCommit });
    }
    Ok(Epoch { seconds: 0, source: EpochSource::Default })
}

/// A new file's mtime (ns since 1970) clamped to the epoch: later times become the epoch,
/// earlier ones stay (BuildKit's `rewrite-timestamp`).
pub fn clamp_mtime(mtime_ns: i64, epoch: &Epoch) -> i64 {
    mtime_ns.min(epoch.seconds.saturating_mul(1_000_000_000))
}

/// The commit time of HEAD of the git repository holding `dir`.
pub fn git_commit_time(dir: &Path) -> Option<i64> {
    let git_dir = find_git_dir(dir)?;
    read_commit_time(&git_dir).or_else(|| git_cli_commit_time(dir))
}

fn find_git_dir(dir: &Path) -> Option<PathBuf> {
    let mut current = Some(dir);
    while let Some(d) = current {
        let dot_git = d.join(".git");
        if dot_git.is_dir() {
            return Some(dot_git);
        }
        if let Ok(text) = fs::read_to_string(&dot_git)
            && let Some(target) = text.trim().strip_prefix("gitdir:")
        {
            let target = Path::new(target.trim());
            return Some(if target.is_absolute() { target.to_owned() } else { d.join(target) });
        }
        current = d.parent();
    }
    None
}

/// HEAD → commit id → commit object → committer time, without git.
fn read_commit_time(git_dir: &Path) -> Option<i64> {
    let common = match fs::read_to_string(git_dir.join("commondir")) {
        Ok(text) => git_dir.join(text.trim()),
        Err(_) => git_dir.to_owned(),
    };
    let head = fs::read_to_string(git_dir.join("HEAD")).ok()?;
    let id = match head.trim().strip_prefix("ref:") {
        None => head.trim().to_owned(),
        Some(name) => resolve_ref(git_dir, &common, name.trim())?,
    };
    if id.len() != 40 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let body = loose_object(&common, &id).or_else(|| packed_object(&common, &id))?;
    committer_time(&body)
}

fn resolve_ref(git_dir: &Path, common: &Path, name: &str) -> Option<String> {
    for base in [git_dir, common] {
        if let Ok(text) = fs::read_to_string(base.join(name)) {
            let text = text.trim();
            return match text.strip_prefix("ref:") {
                Some(next) => resolve_ref(git_dir, common, next.trim()),
                None => Some(text.to_owned()),
            };
        }
    }
    let packed = fs::read_to_string(common.join("packed-refs")).ok()?;
    packed.lines().filter(|l| !l.starts_with('#') && !l.starts_with('^')).find_map(|line| {
        let (id, refname) = line.split_once(' ')?;
        (refname.trim() == name).then(|| id.to_owned())
    })
}

fn inflate(bytes: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    flate2::read::ZlibDecoder::new(bytes).take(16 << 20).read_to_end(&mut out).ok()?;
    Some(out)
}

/// A loose object's content, if it is a commit.
fn loose_object(common: &Path, id: &str) -> Option<Vec<u8>> {
    let raw = fs::read(common.join("objects").join(&id[..2]).join(&id[2..])).ok()?;
    let object = inflate(&raw)?;
    let nul = object.iter().position(|&b| b == 0)?;
    object.starts_with(b"commit ").then(|| object[nul + 1..].to_vec())
}

/// A commit stored whole (not as a delta) in a pack, found through a version 2 index.
fn packed_object(common: &Path, id: &str) -> Option<Vec<u8>> {
    let want = hex::decode(id).ok()?;
    for entry in fs::read_dir(common.join("objects/pack")).ok()?.flatten() {
        let path = entry.path();
        if path.extension().is_none_or(|e| e != "idx") {
            continue;
        }
        let Some(offset) = fs::read(&path).ok().and_then(|idx| index_offset(&idx, &want)) else { continue };
        let pack = fs::read(path.with_extension("pack")).ok()?;
        return pack_commit(&pack, offset);
    }
    None
}

fn be32(bytes: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(bytes.get(at..at + 4)?.try_into().ok()?))
}

fn index_offset(idx: &[u8], want: &[u8]) -> Option<u64> {
    if !idx.starts_with(b"\xfftOc") || be32(idx, 4)? != 2 || want.len() != 20 {
        return None;
    }
    let count = be32(idx, 8 + 255 * 4)? as usize;
    let ids = 8 + 256 * 4;
    let (mut lo, mut hi) = (0usize, count);
    while lo < hi {
        let mid = (lo + hi) / 2;
        let at = ids + mid * 20;
        match idx.get(at..at + 20)?.cmp(want) {
            std::cmp::Ordering::Less => lo = mid + 1,
            std::cmp::Ordering::Greater => hi = mid,
            std::cmp::Ordering::Equal => {
                let offsets = ids + count * 20 + count * 4;
                let small = be32(idx, offsets + mid * 4)?;
                if small & 0x8000_0000 == 0 {
                    return Some(u64::from(small));
                }
                let large = offsets + count * 4 + (small & 0x7fff_ffff) as usize * 8;
                return Some(u64::from_be_bytes(idx.get(large..large + 8)?.try_into().ok()?));
            }
        }
    }
    None
}

/// The object at `offset` of a pack, when it is a whole commit (type 1).
fn pack_commit(pack: &[u8], offset: u64) -> Option<Vec<u8>> {
    let mut at = usize::try_from(offset).ok()?;
    let first = *pack.get(at)?;
    let kind = (first >> 4) & 0x7;
    let mut byte = first;
    at += 1;
    while byte & 0x80 != 0 {
        byte = *pack.get(at)?;
        at += 1;
    }
    if kind != 1 {
        return None;
    }
    inflate(pack.get(at..)?)
}

/// The time on the committer line (`committer Name <mail> 1700000000 +0100`).
fn committer_time(body: &[u8]) -> Option<i64> {
    let text = std::str::from_utf8(body).ok()?;
    let line = text.lines().take_while(|l| !l.is_empty()).find(|l| l.starts_with("committer "))?;
    let mut fields = line.rsplit(' ');
    fields.next()?;
    fields.next()?.parse().ok()
}

fn git_cli_commit_time(dir: &Path) -> Option<i64> {
    let output = Command::new("git").arg("-C").arg(dir).args(["log", "-1", "--format=%ct"]).output().ok()?;
    if !output.status.success() {
        return None;
    }
    String::from_utf8(output.stdout).ok()?.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn zlib(bytes: &[u8]) -> Vec<u8> {
        let mut encoder = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
        encoder.write_all(bytes).unwrap();
        encoder.finish().unwrap()
    }

    const COMMIT: &str = "tree 4b825dc642cb6eb9a060e54bf8d69288fbee4904\nauthor A <a@x> 1600000000 +0000\ncommitter C <c@x> 1700000000 +0200\n\nmessage\n";

    fn fake_repo(root: &Path, id: &str, loose: bool, packed_ref: bool) {
        let git = root.join(".git");
        fs::create_dir_all(git.join("objects/pack")).unwrap();
        fs::write(git.join("HEAD"), "ref: refs/heads/main\n").unwrap();
        if packed_ref {
            fs::write(git.join("packed-refs"), format!("# pack-refs with: peeled\n{id} refs/heads/main\n")).unwrap();
        } else {
            fs::create_dir_all(git.join("refs/heads")).unwrap();
            fs::write(git.join("refs/heads/main"), format!("{id}\n")).unwrap();
        }
        let object = format!("commit {}\0{COMMIT}", COMMIT.len());
        if loose {
            let dir = git.join("objects").join(&id[..2]);
            fs::create_dir_all(&dir).unwrap();
            fs::write(dir.join(&id[2..]), zlib(object.as_bytes())).unwrap();
        } else {
            // A pack with one whole commit at offset 12, and its v2 index.
            let mut pack = b"PACK\0\0\0\x02\0\0\0\x01".to_vec();
            let size = COMMIT.len();
            pack.push(0x80 | (1 << 4) | (size & 0xf) as u8);
            pack.push((size >> 4) as u8);
            pack.extend(zlib(COMMIT.as_bytes()));
            let mut idx = b"\xfftOc\0\0\0\x02".to_vec();
            let first = u8::from_str_radix(&id[..2], 16).unwrap();
            for i in 0..256u32 {
                idx.extend_from_slice(&u32::from(i >= u32::from(first)).to_be_bytes());
            }
            idx.extend(hex::decode(id).unwrap());
            idx.extend_from_slice(&0u32.to_be_bytes());
            idx.extend_from_slice(&12u32.to_be_bytes());
            fs::write(git.join("objects/pack/pack-1.pack"), pack).unwrap();
            fs::write(git.join("objects/pack/pack-1.idx"), idx).unwrap();
        }
    }

    #[test]
    fn a_timestamp_is_now_or_seconds() {
        assert_eq!(parse_timestamp("42"), Ok(Epoch { seconds: 42, source: EpochSource::Flag }));
        let now = parse_timestamp("now").unwrap();
        assert!(now.source == EpochSource::Now && now.seconds > 1_700_000_000);
        assert!(parse_timestamp("-1").is_err() && parse_timestamp("yesterday").is_err());
    }

    #[test]
    fn commit_time_from_loose_and_packed_objects() {
        let id = "3f0c2a5b8e1d4c6f7a9b0c1d2e3f4a5b6c7d8e9f";
        for (loose, packed_ref) in [(true, false), (false, true)] {
            let repo = tempfile::tempdir().unwrap();
            fake_repo(repo.path(), id, loose, packed_ref);
            let sub = repo.path().join("deep/context");
            fs::create_dir_all(&sub).unwrap();
            assert_eq!(read_commit_time(&repo.path().join(".git")), Some(1_700_000_000), "loose {loose}");
            let epoch = resolve_epoch(&BuildArgs::default(), None, Some(&sub)).unwrap();
            assert_eq!(epoch, Epoch { seconds: 1_700_000_000, source: EpochSource::GitCommit });
        }
    }

    #[test]
    fn real_git_repository_when_git_is_installed() {
        if Command::new("git").arg("--version").output().is_err() {
            return;
        }
        let repo = tempfile::tempdir().unwrap();
        let git = |args: &[&str]| {
            let status = Command::new("git")
                .arg("-C")
                .arg(repo.path())
                .args(args)
                .env("GIT_COMMITTER_DATE", "1650000000 +0000")
                .env("GIT_AUTHOR_DATE", "1650000000 +0000")
                .output()
                .unwrap();
            assert!(status.status.success(), "{status:?}");
        };
        git(&["init", "-q"]);
        fs::write(repo.path().join("f"), "x").unwrap();
        git(&["add", "f"]);
        git(&["-c", "user.name=t", "-c", "user.email=t@x", "commit", "-q", "-m", "one"]);
        assert_eq!(read_commit_time(&repo.path().join(".git")), Some(1_650_000_000));
        git(&["gc", "-q"]);
        assert_eq!(git_commit_time(repo.path()), Some(1_650_000_000));
    }

    #[test]
    fn precedence_and_clamping() {
        let args = BuildArgs::new([("SOURCE_DATE_EPOCH".to_owned(), "100".to_owned())]);
        assert_eq!(
            resolve_epoch(&args, Some("200"), None).unwrap(),
            Epoch { seconds: 100, source: EpochSource::BuildArg }
        );
        assert_eq!(resolve_epoch(&BuildArgs::default(), Some("200"), None).unwrap().source, EpochSource::Environment);
        let none = tempfile::tempdir().unwrap();
        assert_eq!(resolve_epoch(&BuildArgs::default(), None, Some(none.path())).unwrap().seconds, 0);
        assert!(resolve_epoch(&BuildArgs::default(), Some("yesterday"), None).is_err());
        let epoch = Epoch { seconds: 10, source: EpochSource::BuildArg };
        assert_eq!(clamp_mtime(20_000_000_000, &epoch), 10_000_000_000);
        assert_eq!(clamp_mtime(5, &epoch), 5);
    }
}
