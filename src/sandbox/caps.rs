//! Capabilities of container processes: Docker's default set changed by `--cap-add`,
//! `--cap-drop` and `--privileged`, kept in the bounding set and (for uid 0) in the permitted and
//! effective sets; everything else dropped. Raw prctl/capset, since the set is small and fixed.

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

/// Every capability of include/uapi/linux/capability.h, index = number.
pub const ALL_CAPABILITIES: [&str; 41] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
];

/// `--cap-add ALL` / `--cap-drop ALL`.
pub const ALL: &str = "ALL";

/// The mask bit of a capability by its CAP_ name (0 for an unknown name).
pub fn bit(name: &str) -> u64 {
    number(name).map_or(0, |n| 1u64 << n)
}

/// The default set as a bit mask (bit n = capability n), as /proc/PID/status shows it.
pub fn default_mask() -> u64 {
    DEFAULT_CAPABILITIES.iter().fold(0, |mask, &(_, cap)| mask | 1 << cap)
}

/// Every capability berth knows of, as a mask (what the process really gets is further limited
/// to what berth itself holds, see [`set_process_caps`]).
pub fn all_mask() -> u64 {
    (1u64 << ALL_CAPABILITIES.len()) - 1
}

/// The number of capability `name` in its canonical form ("CAP_SYS_ADMIN").
pub fn number(name: &str) -> Option<u32> {
    ALL_CAPABILITIES.iter().position(|&n| n == name).map(|n| n as u32)
}

/// Docker's spelling rules for `--cap-add`/`--cap-drop`: any case, with or without the CAP_
/// prefix, or ALL. Returns the canonical name ("CAP_NET_ADMIN", "ALL"); an Err names what is
/// unknown, as Docker does.
pub fn normalize(name: &str) -> Result<&'static str, String> {
    let upper = name.trim().to_ascii_uppercase();
    if upper == ALL {
        return Ok(ALL);
    }
    let full = if upper.starts_with("CAP_") { upper } else { format!("CAP_{upper}") };
    ALL_CAPABILITIES.iter().find(|&&n| n == full).copied().ok_or_else(|| format!("unknown capability: {full:?}"))
}

/// The capability set of a container, as Docker computes it (TweakCapabilities): privileged
/// gets everything; `--cap-add ALL` everything but what is dropped; `--cap-drop ALL` only what
/// is added; otherwise the default set minus the dropped plus the added. Names are canonical
/// (see [`normalize`]); unknown ones count for nothing.
pub fn capability_set(add: &[String], drop: &[String], privileged: bool) -> u64 {
    let mask_of = |names: &[String]| names.iter().filter_map(|n| number(n)).fold(0u64, |m, c| m | 1 << c);
    let has_all = |names: &[String]| names.iter().any(|n| n == ALL);
    if privileged {
        all_mask()
    } else if has_all(add) {
        all_mask() & !mask_of(drop)
    } else if has_all(drop) {
        mask_of(add)
    } else {
        (default_mask() & !mask_of(drop)) | mask_of(add)
    }
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

/// The calling process's permitted set.
fn permitted() -> Result<u64, Errno> {
    let mut header = CapHeader { version: LINUX_CAPABILITY_VERSION_3, pid: 0 };
    let mut data = [CapData::default(); 2];
    // SAFETY: capget writes the two version-3 data structs it requires into `data` and reads the
    // header; both live for the call.
    let ret = unsafe { libc::syscall(libc::SYS_capget, &mut header as *mut CapHeader, data.as_mut_ptr()) };
    if ret < 0 {
        return Err(Errno::last());
    }
    Ok(u64::from(data[0].permitted) | u64::from(data[1].permitted) << 32)
}

/// Sets permitted and effective to `keep` for uid 0 and to nothing otherwise, as far as this
/// process holds them (a capability berth itself lacks cannot be given); the inheritable set is
/// always empty (as Docker does since CVE-2022-24769), so executing a file with inheritable file
/// capabilities grants nothing extra. Call after the uid change.
pub fn set_process_caps(is_root: bool, keep: u64) -> Result<(), Errno> {
    let mask = if is_root { keep & permitted()? } else { 0 };
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
    fn names_are_normalized_like_dockers() {
        assert_eq!(normalize("sys_admin"), Ok("CAP_SYS_ADMIN"));
        assert_eq!(normalize("CAP_NET_ADMIN"), Ok("CAP_NET_ADMIN"));
        assert_eq!(normalize("Cap_Chown"), Ok("CAP_CHOWN"));
        assert_eq!(normalize("all"), Ok(ALL));
        assert_eq!(normalize("bogus"), Err(r#"unknown capability: "CAP_BOGUS""#.to_string()));
        assert_eq!(normalize("CAP_ALL"), Err(r#"unknown capability: "CAP_ALL""#.to_string()));
        // The table's numbers agree with the default set's.
        for (name, cap) in DEFAULT_CAPABILITIES {
            assert_eq!(number(name), Some(cap), "{name}");
        }
        assert_eq!(number("CAP_SYS_ADMIN"), Some(21));
        assert_eq!(number("CAP_CHECKPOINT_RESTORE"), Some(40));
        assert_eq!(all_mask(), 0x1ff_ffff_ffff);
    }

    #[test]
    fn sets_follow_dockers_add_and_drop_rules() {
        let v = |items: &[&str]| items.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let admin = 1u64 << 21;
        let chown = 1u64;
        assert_eq!(capability_set(&[], &[], false), default_mask());
        assert_eq!(capability_set(&v(&["CAP_SYS_ADMIN"]), &[], false), default_mask() | admin);
        assert_eq!(capability_set(&[], &v(&["CAP_CHOWN"]), false), default_mask() & !chown);
        assert_eq!(capability_set(&[], &v(&["ALL"]), false), 0);
        assert_eq!(capability_set(&v(&["CAP_SYS_ADMIN"]), &v(&["ALL"]), false), admin);
        assert_eq!(capability_set(&v(&["ALL"]), &v(&["CAP_CHOWN"]), false), all_mask() & !chown);
        // Adding ALL wins over dropping ALL, as in Docker.
        assert_eq!(capability_set(&v(&["ALL"]), &v(&["ALL"]), false), all_mask());
        assert_eq!(capability_set(&[], &v(&["ALL"]), true), all_mask());
    }

    #[test]
    fn the_permitted_set_read_is_the_one_the_kernel_reports() {
        // The kernel's own account of this process's permitted set, both 32-bit halves of it.
        let status = std::fs::read_to_string("/proc/self/status").unwrap();
        let cap_prm = status.lines().find_map(|l| l.strip_prefix("CapPrm:")).expect("CapPrm in /proc/self/status");
        let reported = u64::from_str_radix(cap_prm.trim(), 16).unwrap();
        assert_eq!(permitted().unwrap(), reported);
    }

    #[test]
    fn bounding_set_can_be_read() {
        // Reading needs no privilege; every kernel has CAP_CHOWN (0) and CAP_SETFCAP (31).
        assert!(prctl(libc::PR_CAPBSET_READ, 0, 0).is_ok());
        assert!(prctl(libc::PR_CAPBSET_READ, 31, 0).is_ok());
        assert_eq!(prctl(libc::PR_CAPBSET_READ, 63, 0), Err(Errno::EINVAL));
    }
}
