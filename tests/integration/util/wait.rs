//! Waiting for something to become true, instead of sleeping for a time that is usually enough:
//! a wait returns as soon as its condition holds and fails the test, saying what never happened,
//! when its deadline passes.

use std::time::{Duration, Instant};

/// The deadline of a wait that has no reason for another: long enough for a loaded CI machine,
/// short enough that a hang fails the test instead of the whole run.
pub const WAIT: Duration = Duration::from_secs(30);

/// Calls `probe` until it returns `Some`, and returns that value; false within `timeout`: None.
/// Polls at once, then every 1 ms, backing off to every 50 ms.
pub fn poll_for<T>(timeout: Duration, mut probe: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + timeout;
    let mut pause = Duration::from_millis(1);
    loop {
        if let Some(value) = probe() {
            return Some(value);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(50));
    }
}

/// Waits until `condition` holds; after `timeout` panics with "timed out after …: `what`".
pub fn wait_until(timeout: Duration, what: &str, mut condition: impl FnMut() -> bool) {
    wait_for(timeout, what, || condition().then_some(()));
}

/// Waits until `probe` returns `Some` and returns the value; after `timeout` panics with
/// "timed out after …: `what`".
pub fn wait_for<T>(timeout: Duration, what: &str, probe: impl FnMut() -> Option<T>) -> T {
    poll_for(timeout, probe).unwrap_or_else(|| panic!("timed out after {timeout:?}: {what}"))
}

/// True when process `pid` has ended: it is gone, or a zombie nobody has reaped yet.
pub fn process_ended(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the parenthesised command name, which may itself hold spaces.
        Ok(stat) => stat.rsplit_once(") ").is_some_and(|(_, rest)| rest.starts_with('Z') || rest.starts_with('X')),
        Err(_) => true,
    }
}
