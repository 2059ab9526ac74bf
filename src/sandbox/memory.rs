//! Giving back the memory a long-lived process touched while it started and no longer needs.
//!
//! A supervisor is berth's whole binary re-executed: starting a container touches code for
//! configuration, the store, mounts and cgroups, and the kernel maps file pages around every
//! fault, so megabytes of program text end up resident although the supervisor then only polls
//! a few descriptors. Those pages are clean copies of the file: dropping them from this process
//! loses nothing (they stay in the page cache, shared) and the few the loop still runs come
//! back on their next use.

use std::ffi::c_void;
use std::ptr::NonNull;

use nix::sys::mman::{MmapAdvise, madvise};

/// One mapping from /proc/self/smaps that may be released.
#[derive(Debug, PartialEq, Eq)]
struct CleanFileMapping {
    start: usize,
    len: usize,
}

/// Mappings of files that are not writable and hold no private (copied-on-write) pages: code
/// and read-only data. A mapping with private pages is read-only data that was relocated at load
/// time (RELRO); dropping those pages would bring back the unrelocated file contents. Private
/// pages out in swap count too: they show only in `Swap:`.
fn clean_file_mappings(smaps: &str) -> Vec<CleanFileMapping> {
    let mut found = Vec::new();
    let mut current: Option<CleanFileMapping> = None;
    for line in smaps.lines() {
        let mut fields = line.split_whitespace();
        let Some(first) = fields.next() else { continue };
        if let Some((start, end)) = first.split_once('-')
            && let (Ok(start), Ok(end)) = (usize::from_str_radix(start, 16), usize::from_str_radix(end, 16))
        {
            if let Some(done) = current.take() {
                found.push(done);
            }
            let perms = fields.next().unwrap_or("");
            let inode = fields.nth(2).unwrap_or("0");
            let path = fields.next().unwrap_or("");
            let file_backed = inode != "0" && path.starts_with('/');
            let read_only = perms.starts_with('r') && perms.as_bytes().get(1) == Some(&b'-');
            if file_backed && read_only && end > start {
                current = Some(CleanFileMapping { start, len: end - start });
            }
            continue;
        }
        let private_pages =
            matches!(first, "Anonymous:" | "Private_Dirty:" | "Swap:") && fields.next().is_some_and(|kb| kb != "0");
        if private_pages {
            current = None;
        }
    }
    found.extend(current);
    found
}

/// Releases this process's resident pages of clean file mappings and trims the heap. Returns
/// the bytes of mappings released. Call it when a process settles into a long wait.
pub fn release_startup_pages() -> usize {
    let Ok(smaps) = std::fs::read_to_string("/proc/self/smaps") else { return 0 };
    let mappings = clean_file_mappings(&smaps);
    drop(smaps);
    // SAFETY: malloc_trim only returns free heap memory to the kernel; it takes no pointers.
    unsafe { libc::malloc_trim(0) };
    // Whatever code runs after the pages are dropped faults its neighbourhood back in, so this
    // loop is the last thing done here.
    let mut released = 0;
    for mapping in &mappings {
        let Some(addr) = NonNull::new(mapping.start as *mut c_void) else { continue };
        // A page cache that holds the binary in huge folios would map 2 MiB at the next fault;
        // without huge mappings a fault maps only its neighbourhood.
        // SAFETY: MADV_NOHUGEPAGE changes how later faults map this range, not its contents.
        let _ = unsafe { madvise(addr, mapping.len, MmapAdvise::MADV_NOHUGEPAGE) };
        // SAFETY: the range is a whole mapping of this process, read-only and file-backed with
        // no private pages, so MADV_DONTNEED only drops page-table entries that the next access
        // refaults from the same file; no data is lost and nothing else refers to the range.
        if unsafe { madvise(addr, mapping.len, MmapAdvise::MADV_DONTNEED) }.is_ok() {
            released += mapping.len;
        }
    }
    released
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMAPS: &str = "\
55d4a0000000-55d4a0100000 r--p 00000000 fe:00 1234 /usr/bin/berth
Size:               1024 kB
Anonymous:             0 kB
Private_Dirty:         0 kB
55d4a0100000-55d4a0900000 r-xp 00100000 fe:00 1234 /usr/bin/berth
Anonymous:             0 kB
55d4a0900000-55d4a0a00000 r--p 00900000 fe:00 1234 /usr/bin/berth
Anonymous:           120 kB
Private_Dirty:       120 kB
55d4a0a00000-55d4a0a10000 rw-p 00a00000 fe:00 1234 /usr/bin/berth
Anonymous:            64 kB
55d4a1000000-55d4a1100000 rw-p 00000000 00:00 0 [heap]
Anonymous:           800 kB
7f0000000000-7f0000001000 r--p 00000000 fe:00 99 /usr/lib/x86_64-linux-gnu/libc.so.6
Anonymous:             0 kB
7fff00000000-7fff00002000 r-xp 00000000 00:00 0 [vdso]
Anonymous:             0 kB
";

    #[test]
    fn only_clean_read_only_file_mappings_are_released() {
        let found = clean_file_mappings(SMAPS);
        assert_eq!(
            found,
            vec![
                CleanFileMapping { start: 0x55d4a0000000, len: 0x100000 },
                CleanFileMapping { start: 0x55d4a0100000, len: 0x800000 },
                CleanFileMapping { start: 0x7f0000000000, len: 0x1000 },
            ]
        );
    }

    #[test]
    fn a_mapping_with_private_pages_in_swap_is_kept() {
        let smaps = "\
7f0000000000-7f0000002000 r--p 00000000 fe:00 99 /usr/lib/x86_64-linux-gnu/libc.so.6
Anonymous:             0 kB
Private_Dirty:         0 kB
Swap:                  4 kB
7f0000002000-7f0000003000 r--p 00002000 fe:00 99 /usr/lib/x86_64-linux-gnu/libc.so.6
Anonymous:             0 kB
Swap:                  0 kB
";
        assert_eq!(clean_file_mappings(smaps), vec![CleanFileMapping { start: 0x7f0000002000, len: 0x1000 }]);
    }

    /// The resident kB of this process's mapping that starts at `start`, from /proc/self/smaps.
    fn resident_kb(start: usize) -> u64 {
        let smaps = std::fs::read_to_string("/proc/self/smaps").unwrap();
        let mut lines = smaps.lines().skip_while(|l| !l.starts_with(&format!("{start:x}-")));
        lines.next().expect("the mapping is in smaps");
        let rss = lines.find(|l| l.starts_with("Rss:")).expect("its Rss line");
        rss.split_whitespace().nth(1).unwrap().parse().unwrap()
    }

    #[test]
    fn releasing_drops_the_resident_pages_of_a_clean_file_mapping_and_they_come_back() {
        // A read-only private mapping of a file, like the binary's code: 1 MiB, all touched. The
        // file is written back first (beside the test binary, on a disk: a tmpfs page is never
        // clean), so its pages are clean copies of the file, as the binary's are.
        use std::io::Write;
        let beside_binary = std::env::current_exe().unwrap().parent().unwrap().to_owned();
        let mut file = tempfile::tempfile_in(beside_binary).unwrap();
        let content: Vec<u8> = (0..1u32 << 20).map(|i| (i % 251) as u8).collect();
        file.write_all(&content).unwrap();
        file.sync_all().unwrap();
        let len = std::num::NonZeroUsize::new(content.len()).unwrap();
        // SAFETY: a new read-only mapping of a file only this test uses, at an address the kernel
        // picks; it is read through the slice below while mapped and unmapped at the end.
        let addr = unsafe {
            nix::sys::mman::mmap(
                None,
                len,
                nix::sys::mman::ProtFlags::PROT_READ,
                nix::sys::mman::MapFlags::MAP_PRIVATE,
                &file,
                0,
            )
        }
        .unwrap();
        // SAFETY: the mapping is len bytes long, readable, and lives until the munmap below.
        let mapped = unsafe { std::slice::from_raw_parts(addr.as_ptr().cast::<u8>(), len.get()) };
        let sum = |bytes: &[u8]| bytes.iter().map(|&b| u64::from(b)).sum::<u64>();
        assert_eq!(sum(mapped), sum(&content));
        assert_eq!(resident_kb(addr.as_ptr() as usize), 1024, "touched, the whole mapping is resident");

        let released = release_startup_pages();
        assert!(released >= len.get(), "only {released} bytes released");
        // Nothing touches the mapping meanwhile, so nothing of it is resident any more…
        assert_eq!(resident_kb(addr.as_ptr() as usize), 0, "the pages were not dropped");
        // …and reading it again brings the same bytes back from the file.
        assert_eq!(mapped, &content[..]);
        // SAFETY: the mapping made above, of len bytes, no longer borrowed.
        unsafe { nix::sys::mman::munmap(addr, len.get()) }.unwrap();
    }
}
