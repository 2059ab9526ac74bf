//! A service's healthcheck as the container's, and the waits on dependencies that
//! `depends_on` conditions (and `up --wait`) ask for: healthy by the supervisor's checks,
//! or exited with 0.

use std::time::Duration;

use crate::container::health::{self, HealthStatus};
use crate::container::index::{load, refresh};
use crate::container::record::{Container, Status};
use crate::image::spec::HealthConfig;
use crate::store::Store;

use super::engine::EngineError;
use super::model::Healthcheck;

/// How often a wait looks at the container's state again: the supervisor writes a check's
/// result to the record, so reading it is all a wait needs.
const POLL: Duration = Duration::from_millis(50);

fn nanos(text: &Option<String>) -> i64 {
    text.as_deref().and_then(super::convert::parse_duration).map_or(0, |n| n.min(i64::MAX as u128) as i64)
}

/// compose's `healthcheck:` as `--health-*` would give it: what it leaves unset comes from
/// the image; `disable: true` (or test NONE) turns the image's off.
pub fn health_config(h: &Healthcheck) -> HealthConfig {
    if h.disable {
        return HealthConfig { test: vec!["NONE".into()], ..HealthConfig::default() };
    }
    HealthConfig {
        test: h.test.clone(),
        interval: nanos(&h.interval),
        timeout: nanos(&h.timeout),
        start_period: nanos(&h.start_period),
        start_interval: nanos(&h.start_interval),
        retries: h.retries.map_or(0, |r| r.min(i64::MAX as u64) as i64),
        ..HealthConfig::default()
    }
}

/// Until the container is healthy. An unhealthy or exited container, or one without a check,
/// fails the wait with Docker Compose's reason.
pub fn wait_healthy(store: &Store, c: &Container) -> Result<(), EngineError> {
    let dependency = |why: String| EngineError::Dependency { name: c.name.clone(), why };
    if health::active(&c.config).is_none() {
        return Err(dependency("has no healthcheck configured".into()));
    }
    until_ready(store, c, true)?.map_err(dependency)
}

/// `up --wait`: each container running, and healthy when it has a check.
pub fn wait_ready(store: &Store, made: &[Container]) -> Result<(), EngineError> {
    for c in made {
        let healthcheck = health::active(&c.config).is_some();
        until_ready(store, c, healthcheck)?.map_err(|why| EngineError::NotReady { name: c.name.clone(), why })?;
    }
    Ok(())
}

/// Polls the record until the container is running (and healthy, with `healthy`): Ok(Err(why))
/// when it never will be.
fn until_ready(store: &Store, c: &Container, healthy: bool) -> Result<Result<(), String>, EngineError> {
    loop {
        let record = load(store, &c.id)?;
        let mut now = record.clone();
        let status = refresh(store, &mut now);
        match now.state.health.as_ref().map(|h| h.status) {
            Some(HealthStatus::Healthy) if healthy => return Ok(Ok(())),
            Some(HealthStatus::Unhealthy) if healthy => return Ok(Err("is unhealthy".into())),
            _ if !healthy && status == Status::Running => return Ok(Ok(())),
            _ => {}
        }
        if let Some(code) = ended(store, &record) {
            return Ok(Err(format!("exited ({code})")));
        }
        std::thread::sleep(POLL);
    }
}

/// Until the container's run has ended and its supervisor recorded it (a restart policy that
/// will start it again keeps the wait going): its exit code. Reads the record, as the
/// supervisor writes the end there after its teardown.
pub fn wait_exited(store: &Store, c: &Container) -> Result<i32, EngineError> {
    loop {
        if let Some(code) = ended(store, &load(store, &c.id)?) {
            return Ok(code);
        }
        std::thread::sleep(POLL);
    }
}

/// The exit code once the run has ended for good (no restart coming), from the record as the
/// supervisor wrote it; only when no supervisor is left does `refresh`'s reading count (it
/// says -1 while a living supervisor has not yet written the exit).
pub fn ended(store: &Store, record: &Container) -> Option<i32> {
    let supervised =
        crate::container::liveness::is_alive(record.state.supervisor_pid, record.state.supervisor_start_time);
    if record.state.status == Status::Exited && !record.state.restarting_now() {
        return match record.state.exit_code {
            Some(code) => Some(code),
            None if !supervised => Some(-1),
            None => None,
        };
    }
    if supervised {
        return None;
    }
    let mut now = record.clone();
    (refresh(store, &mut now) == Status::Exited).then(|| now.state.exit_code.unwrap_or(-1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compose_checks_become_the_containers() {
        let h = Healthcheck {
            test: vec!["CMD-SHELL".into(), "test -e /ok".into()],
            interval: Some("1s".into()),
            timeout: Some("500ms".into()),
            retries: Some(3),
            start_period: Some("1m30s".into()),
            ..Healthcheck::default()
        };
        let c = health_config(&h);
        assert_eq!(c.test, ["CMD-SHELL", "test -e /ok"]);
        assert_eq!((c.interval, c.timeout, c.retries), (1_000_000_000, 500_000_000, 3));
        assert_eq!((c.start_period, c.start_interval), (90_000_000_000, 0));
        let off = health_config(&Healthcheck { disable: true, ..h });
        assert_eq!(off.test, ["NONE"]);
    }
}
