//! Docker's volume copy-up: a new, empty volume mounted over a directory of the image gets a
//! copy of that directory's content.

use std::collections::HashMap;
use std::ffi::CStr;
use std::fs::File;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use nix::errno::Errno;
use nix::fcntl::{AtFlags, readlinkat};
use nix::sys::stat::{FileStat, Mode, SFlag, fstat, mknodat};
use nix::sys::time::TimeSpec;
use nix::unistd::{linkat, symlinkat};

use super::{Node, create_file_excl, cstring, dir_names, file_type, lstat_at, make_dir, open_dir_nofollow};

/// The first name seen of a multiply-linked file: a duplicate of the directory fd it is in and
/// its name there, so later links are made from it without resolving any path again.
struct FirstLink {
    dir: OwnedFd,
    name: std::ffi::CString,
}

/// Fills the empty directory `volume` with a copy of the directory `image_dir` (owners, modes,
/// times kept, symlinks copied as symlinks and never followed, hard links kept), then gives the
/// volume's root the owner and mode of `image_dir`. Does nothing when `volume` is not empty or
/// `image_dir` is not a directory. Device nodes that cannot be made (a user namespace) are left
/// out, as a layer unpack does; sockets belong to a running program, not to content.
/// Runs in the container's first process, as root of its user namespace.
pub fn copy_up(image_dir: &Path, volume: &Path) -> io::Result<()> {
    let cwd = nix::fcntl::AT_FDCWD;
    let volume_fd = open_dir_nofollow(cwd, &cstring(volume.as_os_str().as_bytes())?)?;
    if !dir_names(volume_fd.as_fd())?.is_empty() {
        return Ok(());
    }
    let source = match open_dir_nofollow(cwd, &cstring(image_dir.as_os_str().as_bytes())?) {
        Ok(fd) => fd,
        Err(e) if matches!(e.raw_os_error(), Some(libc::ENOENT | libc::ENOTDIR | libc::ELOOP)) => return Ok(()),
        Err(e) => return Err(e),
    };
    let mut links = HashMap::new();
    copy_dir_contents(source.as_fd(), volume_fd.as_fd(), &mut links)?;
    let st = fstat(&source)?;
    let root = Node::Fd(volume_fd.as_fd());
    root.chown(st.st_uid, st.st_gid)?;
    root.chmod(st.st_mode)?;
    Ok(())
}

fn times(st: &FileStat) -> [TimeSpec; 2] {
    [TimeSpec::new(st.st_atime, st.st_atime_nsec), TimeSpec::new(st.st_mtime, st.st_mtime_nsec)]
}

/// Owner, then mode (chown clears set-id bits), then times.
fn set_metadata(node: Node<'_>, st: &FileStat, with_mode: bool) -> io::Result<()> {
    node.chown(st.st_uid, st.st_gid)?;
    if with_mode {
        node.chmod(st.st_mode)?;
    }
    let [atime, mtime] = times(st);
    node.set_times(&atime, &mtime)?;
    Ok(())
}

fn copy_dir_contents(
    src: BorrowedFd<'_>,
    dst: BorrowedFd<'_>,
    links: &mut HashMap<(u64, u64), FirstLink>,
) -> io::Result<()> {
    for name in dir_names(src)? {
        let Some(st) = lstat_at(src, &name)? else { continue };
        copy_node(src, dst, &name, &st, links)?;
    }
    Ok(())
}

fn copy_node(
    src: BorrowedFd<'_>,
    dst: BorrowedFd<'_>,
    name: &CStr,
    st: &FileStat,
    links: &mut HashMap<(u64, u64), FirstLink>,
) -> io::Result<()> {
    match file_type(st) {
        libc::S_IFDIR => {
            let to = make_dir(dst, name, 0o700)?;
            let from = open_dir_nofollow(src, name)?;
            copy_dir_contents(from.as_fd(), to.as_fd(), links)?;
            set_metadata(Node::Fd(to.as_fd()), st, true)?;
        }
        libc::S_IFREG => {
            let key = (st.st_dev, st.st_ino);
            if st.st_nlink > 1 {
                if let Some(first) = links.get(&key) {
                    linkat(first.dir.as_fd(), first.name.as_c_str(), dst, name, AtFlags::empty())?;
                    return Ok(());
                }
                links.insert(key, FirstLink { dir: dst.try_clone_to_owned()?, name: name.to_owned() });
            }
            let mut from = File::from(super::open_file_nofollow(src, name)?);
            let mut to = File::from(create_file_excl(dst, name)?);
            io::copy(&mut from, &mut to)?;
            set_metadata(Node::Fd(to.as_fd()), st, true)?;
        }
        libc::S_IFLNK => {
            let target = readlinkat(src, name)?;
            symlinkat(target.as_os_str(), dst, name)?;
            set_metadata(Node::At { parent: dst, name }, st, false)?;
        }
        libc::S_IFIFO | libc::S_IFCHR | libc::S_IFBLK => {
            let kind = SFlag::from_bits_truncate(file_type(st));
            match mknodat(dst, name, kind, Mode::from_bits_truncate(st.st_mode & 0o7777), st.st_rdev) {
                Err(Errno::EPERM) => return Ok(()),
                other => other?,
            }
            Node::At { parent: dst, name }.chown(st.st_uid, st.st_gid)?;
        }
        _ => {}
    }
    Ok(())
}
