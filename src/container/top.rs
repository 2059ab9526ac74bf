//! A container's processes as /proc describes them: which they are (its cgroup's, or its first
//! process and that one's descendants), `ps -ef`'s columns for `top`, and the network counters
//! `stats` shows.

use std::collections::BTreeMap;

use chrono::{DateTime, Datelike, Local, TimeZone};

use super::record::Container;

pub const TOP_HEADER: [&str; 8] = ["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"];

/// What /proc/PID/stat and friends say about one process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessInfo {
    pub pid: i32,
    pub ppid: i32,
    pub uid: u32,
    pub tty_nr: u32,
    /// User plus system CPU time, in clock ticks.
    pub cpu_ticks: u64,
    /// Clock ticks after boot.
    pub start_ticks: u64,
    pub comm: String,
    /// Arguments joined by spaces; empty for kernel threads and zombies.
    pub cmdline: String,
}

/// The fields after the command name of a /proc/PID/stat line, and that name.
fn split_stat(stat: &str) -> Option<(String, Vec<&str>)> {
    let open = stat.find('(')?;
    let close = stat.rfind(')')?;
    Some((stat[open + 1..close].to_owned(), stat[close + 1..].split_whitespace().collect()))
}

fn parse_stat(pid: i32, stat: &str) -> Option<ProcessInfo> {
    let (comm, fields) = split_stat(stat)?;
    // fields[0] is field 3 (state) of proc(5).
    let field = |n: usize| fields.get(n - 3).and_then(|f| f.parse::<u64>().ok());
    Some(ProcessInfo {
        pid,
        ppid: field(4)? as i32,
        uid: 0,
        tty_nr: field(7)? as u32,
        cpu_ticks: field(14)? + field(15)?,
        start_ticks: field(22)?,
        comm,
        cmdline: String::new(),
    })
}

fn real_uid(status: &str) -> Option<u32> {
    status.lines().find_map(|l| l.strip_prefix("Uid:"))?.split_whitespace().next()?.parse().ok()
}

pub fn read_process(pid: i32) -> Option<ProcessInfo> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let mut info = parse_stat(pid, &stat)?;
    info.uid = std::fs::read_to_string(format!("/proc/{pid}/status")).ok().as_deref().and_then(real_uid).unwrap_or(0);
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    info.cmdline =
        cmdline.split(|&b| b == 0).filter(|a| !a.is_empty()).map(String::from_utf8_lossy).collect::<Vec<_>>().join(" ");
    Some(info)
}

/// `root` and every process descended from it, by parent pids read from /proc.
pub fn descendants(root: i32) -> Vec<i32> {
    let mut children: BTreeMap<i32, Vec<i32>> = BTreeMap::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse::<i32>().ok()) else { continue };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else { continue };
        if let Some((_, fields)) = split_stat(&stat)
            && let Some(ppid) = fields.get(1).and_then(|p| p.parse::<i32>().ok())
        {
            children.entry(ppid).or_default().push(pid);
        }
    }
    let mut out = vec![root];
    let mut i = 0;
    while i < out.len() {
        out.extend(children.get(&out[i]).into_iter().flatten().copied());
        i += 1;
    }
    out.sort_unstable();
    out
}

fn pid_namespace(pid: i32) -> Option<std::path::PathBuf> {
    std::fs::read_link(format!("/proc/{pid}/ns/pid")).ok()
}

/// The host pids of a running container's processes: those in its cgroup that are in its pid
/// namespace (`exec` puts its own host-side process in the cgroup too), else its first process
/// and that one's descendants.
pub fn container_pids(container: &Container) -> Vec<i32> {
    if let Some(cgroup) = super::lifecycle::cgroup_of(container) {
        let namespace = pid_namespace(container.state.pid);
        let pids: Vec<i32> =
            cgroup.pids().into_iter().filter(|&p| namespace.is_none() || pid_namespace(p) == namespace).collect();
        if !pids.is_empty() {
            return pids;
        }
    }
    descendants(container.state.pid)
}

fn clock_ticks_per_second() -> u64 {
    nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK).ok().flatten().filter(|&t| t > 0).map_or(100, |t| t as u64)
}

/// The boot time, from /proc/stat's btime.
fn boot_time() -> i64 {
    std::fs::read_to_string("/proc/stat")
        .ok()
        .and_then(|s| s.lines().find_map(|l| l.strip_prefix("btime ").and_then(|v| v.trim().parse().ok())))
        .unwrap_or(0)
}

/// Host user names by uid, from /etc/passwd.
fn user_names() -> BTreeMap<u32, String> {
    std::fs::read_to_string("/etc/passwd")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let mut f = l.split(':');
            let name = f.next()?;
            Some((f.nth(1)?.parse().ok()?, name.to_owned()))
        })
        .collect()
}

/// The terminal name for a tty_nr as ps prints it ("pts/0", "tty1", "?").
fn tty_name(tty_nr: u32) -> String {
    let major = (tty_nr >> 8) & 0xfff;
    let minor = (tty_nr & 0xff) | ((tty_nr >> 12) & 0xfff00);
    match major {
        0 => "?".into(),
        136..=143 => format!("pts/{}", minor + (major - 136) * 256),
        4 if minor < 64 => format!("tty{minor}"),
        4 => format!("ttyS{}", minor - 64),
        _ => format!("{major}:{minor}"),
    }
}

/// ps's TIME: cumulative CPU time as [DD-]HH:MM:SS.
fn cpu_time(seconds: u64) -> String {
    let (days, rest) = (seconds / 86400, seconds % 86400);
    let hms = format!("{:02}:{:02}:{:02}", rest / 3600, rest % 3600 / 60, rest % 60);
    if days > 0 { format!("{days}-{hms}") } else { hms }
}

/// ps's STIME: the time of day for a process started today, else month and day, else year.
fn start_time(started: DateTime<Local>, now: DateTime<Local>) -> String {
    if started.date_naive() == now.date_naive() {
        started.format("%H:%M").to_string()
    } else if started.year() == now.year() {
        started.format("%b%d").to_string()
    } else {
        started.format("%Y").to_string()
    }
}

/// `ps -ef` rows (see [`TOP_HEADER`]) for the processes that still exist.
pub fn top_rows(pids: &[i32]) -> Vec<Vec<String>> {
    let ticks = clock_ticks_per_second();
    let boot = boot_time();
    let users = user_names();
    let now = Local::now();
    pids.iter()
        .filter_map(|&pid| read_process(pid))
        .map(|p| {
            let started_secs = boot + (p.start_ticks / ticks) as i64;
            let started = Local.timestamp_opt(started_secs, 0).single().unwrap_or(now);
            let elapsed = (now.timestamp() - started_secs).max(1) as u64;
            let cpu_secs = p.cpu_ticks / ticks;
            let cmd = if p.cmdline.is_empty() { format!("[{}]", p.comm) } else { p.cmdline.clone() };
            vec![
                users.get(&p.uid).cloned().unwrap_or_else(|| p.uid.to_string()),
                p.pid.to_string(),
                p.ppid.to_string(),
                (p.cpu_ticks * 100 / ticks / elapsed).to_string(),
                start_time(started, now),
                tty_name(p.tty_nr),
                cpu_time(cpu_secs),
                cmd,
            ]
        })
        .collect()
}

/// The host's memory in bytes (MemTotal), the limit `stats` and `info` show for a container
/// without one; 0 when /proc/meminfo cannot be read.
pub fn host_memory() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines().find_map(|l| {
                l.strip_prefix("MemTotal:").and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            })
        })
        .map_or(0, |kb| kb * 1024)
}

/// Bytes received and sent on the network interfaces (loopback aside) of the network
/// namespace process `pid` is in.
pub fn network_io(pid: i32) -> Option<(u64, u64)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/net/dev")).ok()?;
    Some(parse_net_dev(&text))
}

fn parse_net_dev(text: &str) -> (u64, u64) {
    let mut rx = 0;
    let mut tx = 0;
    for line in text.lines().skip(2) {
        let Some((name, counters)) = line.split_once(':') else { continue };
        if name.trim() == "lo" {
            continue;
        }
        let values: Vec<u64> = counters.split_whitespace().filter_map(|v| v.parse().ok()).collect();
        if values.len() >= 9 {
            rx += values[0];
            tx += values[8];
        }
    }
    (rx, tx)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_are_counted_after_the_command_name() {
        let stat = "42 (a (b) c) S 7 42 42 34816 42 4194560 1 0 0 0 150 50 0 0 20 0 1 0 12345 1000 200";
        let p = parse_stat(42, stat).unwrap();
        assert_eq!((p.ppid, p.tty_nr, p.cpu_ticks, p.start_ticks), (7, 34816, 200, 12345));
        assert_eq!(p.comm, "a (b) c");
    }

    #[test]
    fn terminals_and_times_print_like_ps() {
        assert_eq!(tty_name(0), "?");
        assert_eq!(tty_name(34816), "pts/0");
        assert_eq!(tty_name((136 << 8) | 5), "pts/5");
        assert_eq!(tty_name((4 << 8) | 1), "tty1");
        assert_eq!(cpu_time(3723), "01:02:03");
        assert_eq!(cpu_time(90000), "1-01:00:00");
    }

    #[test]
    fn this_process_is_its_own_first_descendant() {
        let me = std::process::id() as i32;
        assert!(descendants(me).contains(&me));
        let info = read_process(me).unwrap();
        assert_eq!(info.pid, me);
        assert!(!info.cmdline.is_empty());
        assert_eq!(top_rows(&[me])[0][1], me.to_string());
    }

    #[test]
    fn net_dev_sums_all_but_loopback() {
        let text = "Inter-|   Receive                                                |  Transmit\n face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n    lo:     100       1    0    0    0     0          0         0      100       1    0    0    0     0       0          0\n  eth0:    2000      10    0    0    0     0          0         0      300       3    0    0    0     0       0          0\n";
        assert_eq!(parse_net_dev(text), (2000, 300));
    }
}
