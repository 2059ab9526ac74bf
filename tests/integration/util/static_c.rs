//! The tests' static C helpers (tests/integration/NAME.c: what busybox cannot do), each built
//! once per test run with `cc -static`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

/// tests/integration/`name`.c, compiled; None when it does not build (no C compiler, no
/// libc6-dev): the caller skips.
pub fn static_helper(name: &str) -> Option<PathBuf> {
    static BUILT: OnceLock<Mutex<HashMap<String, Option<PathBuf>>>> = OnceLock::new();
    let mut built = BUILT.get_or_init(Mutex::default).lock().unwrap_or_else(|e| e.into_inner());
    built
        .entry(name.to_owned())
        .or_insert_with(|| {
            // In cargo's scratch directory for tests; built under a name of this run's own, then
            // renamed over the last run's, so concurrent runs never see half a binary.
            let dir = Path::new(env!("CARGO_TARGET_TMPDIR"));
            std::fs::create_dir_all(dir).ok()?;
            let scratch = dir.join(format!("{name}-{}", std::process::id()));
            let source = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/integration/{name}.c"));
            let status =
                std::process::Command::new("cc").args(["-static", "-O1", "-o"]).arg(&scratch).arg(&source).status();
            let binary = dir.join(name);
            (status.is_ok_and(|s| s.success()) && std::fs::rename(&scratch, &binary).is_ok()).then_some(binary)
        })
        .clone()
}
