//! Capabilities of container processes: Docker's default set, kept in the bounding set and (for
//! uid 0) in the permitted and effective sets; everything else dropped. Raw prctl/capset, since
//! the set is small and fixed.

use nix::errno::Errno;

/// Docker's default capabilities, by name and number (include/uapi/linux/capability.h).
pub const DEFAULT_CAPABILITIES: [(&str, u32); 14] = [
    ("CAP_CHOWN", 0),
    ("CAP_DAC_OVERRIDE", 1),
    ("CAP_FOWNER", 3),
    ("CAP_FSETID", 4),
    ("CAP_KILL", 5),
    ("CAP_SETGID", 6),
    ("CAP_SETUID", 7),
    ("CAP_SETPCAP", 8),
    ("CAP_NET_BIND_SERVICE", 10),
    ("CAP_NET_RAW", 13),
    ("CAP_SYS_CHROOT", 18),
    ("CAP_MKNOD", 27),
    ("CAP_AUDIT_WRITE", 29),
    ("CAP_SETFCAP", 31),
];

/// The default set as a bit mask (bit n = capability n), as /proc/PID/status shows it.
pub fn default_mask() -> u64 {
    DEFAULT_CAPABILITIES.iter().fold(0, |mask, &(_, cap)| mask | 1 << cap)
}

fn prctl(option: libc::c_int, arg2: libc::c_ulong, arg3: libc::c_ulong) -> Result<libc::c_int, Errno> {
    // SAFETY: the prctl options used here (capability bounding set and ambient set) take only
    // integer arguments and touch no memory of ours.
    let ret = unsafe { libc::prctl(option, arg2, arg3, 0 as libc::c_ulong, 0 as libc::c_ulong) };
    if ret < 0 { Err(Errno::last()) } else { Ok(ret) }
}

/// Drops every capability not in `keep` from the bounding set. Needs CAP_SETPCAP, so it runs
/// before the process gives up its capabilities.
pub fn restrict_bounding_set(keep: u64) -> Result<(), Errno> {
    for cap in 0..64u32 {
        match prctl(libc::PR_CAPBSET_READ, cap.into(), 0) {
            // Past the kernel's last capability.
            Err(Errno::EINVAL) => break,
            Err(e) => return Err(e),
            Ok(1) if keep & (1 << cap) == 0 => {
                prctl(libc::PR_CAPBSET_DROP, cap.into(), 0)?;
            }
            Ok(_) => {}
        }
    }
    Ok(())
}

pub fn clear_ambient() -> Result<(), Errno> {
    prctl(libc::PR_CAP_AMBIENT, libc::PR_CAP_AMBIENT_CLEAR_ALL as libc::c_ulong, 0).map(drop)
}

const LINUX_CAPABILITY_VERSION_3: u32 = 0x2008_0522;

#[repr(C)]
struct CapHeader {
    version: u32,
    pid: libc::c_int,
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

/// Sets permitted and effective to the default set for uid 0 and to nothing otherwise; the
/// inheritable set is always empty (as Docker does since CVE-2022-24769), so executing a file
/// with inheritable file capabilities grants nothing extra. Call after the uid change.
pub fn set_process_caps(is_root: bool) -> Result<(), Errno> {
    let mask = if is_root { default_mask() } else { 0 };
    let header = CapHeader { version: LINUX_CAPABILITY_VERSION_3, pid: 0 };
    let data = [
        CapData { effective: mask as u32, permitted: mask as u32, inheritable: 0 },
        CapData { effective: (mask >> 32) as u32, permitted: (mask >> 32) as u32, inheritable: 0 },
    ];
    // SAFETY: capset reads the version-3 header and the two data structs it requires, both live
    // for the call.
    let ret = unsafe { libc::syscall(libc::SYS_capset, &header as *const CapHeader, data.as_ptr()) };
    if ret < 0 { Err(Errno::last()) } else { Ok(()) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_set_is_dockers() {
        // CapBnd of a default `docker run` container.
        assert_eq!(default_mask(), 0x0000_0000_a804_25fb);
        let mut names: Vec<&str> = DEFAULT_CAPABILITIES.iter().map(|(n, _)| *n).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), 14);
        for absent in ["CAP_SYS_ADMIN", "CAP_NET_ADMIN", "CAP_SYS_PTRACE", "CAP_DAC_READ_SEARCH"] {
            assert!(!names.contains(&absent));
        }
    }

    #[test]
    fn bounding_set_can_be_read() {
        // Reading needs no privilege; every kernel has CAP_CHOWN (0) and CAP_SETFCAP (31).
        assert!(prctl(libc::PR_CAPBSET_READ, 0, 0).is_ok());
        assert!(prctl(libc::PR_CAPBSET_READ, 31, 0).is_ok());
        assert_eq!(prctl(libc::PR_CAPBSET_READ, 63, 0), Err(Errno::EINVAL));
    }
}
