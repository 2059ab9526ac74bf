//! A container (or supervisor) is alive only if its pid exists and that pid's start time is the
//! one recorded: pids are recycled.

/// Field 22 of /proc/PID/stat (start time in clock ticks after boot), None if no such process.
pub fn process_start_time(pid: i32) -> Option<u64> {
    if pid <= 0 {
        return None;
    }
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_start_time(&stat)
}

/// The command name (field 2) may contain spaces and parentheses: fields are counted after the
/// last ')'.
fn parse_start_time(stat: &str) -> Option<u64> {
    let after = &stat[stat.rfind(')')? + 1..];
    // After ')' come fields 3.. ; start time is field 22, so index 19 here.
    after.split_whitespace().nth(19)?.parse().ok()
}

/// One read of /proc/PID/stat: the pid must exist, not be a zombie, and have the start time.
pub fn is_alive(pid: i32, recorded_start_time: u64) -> bool {
    if recorded_start_time == 0 || pid <= 0 {
        return false;
    }
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { return false };
    let zombie = stat.rfind(')').is_some_and(|i| stat[i + 1..].trim_start().starts_with('Z'));
    !zombie && parse_start_time(&stat) == Some(recorded_start_time)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_start_time_after_odd_command_names() {
        let stat = "1234 (a) b (c)) S 1 1234 1234 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 1000 200";
        assert_eq!(parse_start_time(stat), Some(987654));
    }

    #[test]
    fn this_process_is_alive_and_a_wrong_start_time_is_not() {
        let me = std::process::id() as i32;
        let start = process_start_time(me).unwrap();
        assert!(is_alive(me, start));
        assert!(!is_alive(me, start + 1));
        assert!(!is_alive(-1, 5));
    }
}
