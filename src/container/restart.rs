//! Restart policies (`--restart no|always|on-failure[:N]|unless-stopped`) and Docker's decision
//! after a container's exit, with its back-off: 100 ms, doubling on each restart up to a minute,
//! back to 100 ms once a run lasted 10 seconds. The container's supervisor carries it out (it
//! keeps the back-off in memory, as dockerd's restart manager does); `system boot` starts the
//! containers whose policy says so after a reboot.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// What `--restart` asks for. Stored in the record as Docker's RestartPolicy.Name and
/// MaximumRetryCount.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq, Default)]
#[serde(tag = "name", rename_all = "kebab-case")]
pub enum RestartPolicy {
    #[default]
    No,
    Always,
    UnlessStopped,
    /// `max_retries` 0: no limit.
    OnFailure {
        #[serde(default)]
        max_retries: u32,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RestartPolicyError {
    #[error("invalid restart policy format: no policy provided before colon")]
    NoName,
    #[error("invalid restart policy format: maximum retry count must be an integer")]
    Count,
    #[error("invalid restart policy: maximum retry count cannot be negative")]
    Negative,
    #[error("invalid restart policy: maximum retry count can only be used with 'on-failure'")]
    CountWithoutOnFailure,
    #[error(
        "invalid restart policy: unknown policy '{0}'; use one of 'no', 'always', 'on-failure', or 'unless-stopped'"
    )]
    Unknown(String),
    #[error("conflicting options: cannot specify both --restart and --rm")]
    WithAutoRemove,
}

/// The first delay, and the factor it grows by on each restart.
const FIRST_DELAY: Duration = Duration::from_millis(100);
/// The longest delay.
const MAX_DELAY: Duration = Duration::from_secs(60);
/// A run at least this long resets the delay.
const RESET_AFTER: Duration = Duration::from_secs(10);

impl RestartPolicy {
    /// Docker's `--restart` syntax: `NAME[:COUNT]`, empty being `no`.
    pub fn parse(text: &str) -> Result<RestartPolicy, RestartPolicyError> {
        let (name, count) = match text.split_once(':') {
            Some(("", _)) => return Err(RestartPolicyError::NoName),
            Some((name, count)) => (name, Some(count)),
            None => (text, None),
        };
        let count: i64 = match count.filter(|c| !c.is_empty()) {
            Some(c) => c.parse().map_err(|_| RestartPolicyError::Count)?,
            None => 0,
        };
        if count < 0 {
            return Err(RestartPolicyError::Negative);
        }
        let policy = match name {
            "" | "no" => RestartPolicy::No,
            "always" => RestartPolicy::Always,
            "unless-stopped" => RestartPolicy::UnlessStopped,
            "on-failure" => {
                return Ok(RestartPolicy::OnFailure { max_retries: count.min(u32::MAX.into()) as u32 });
            }
            other => return Err(RestartPolicyError::Unknown(other.to_owned())),
        };
        if count != 0 {
            return Err(RestartPolicyError::CountWithoutOnFailure);
        }
        Ok(policy)
    }

    pub fn is_no(&self) -> bool {
        *self == RestartPolicy::No
    }

    /// Docker's HostConfig.RestartPolicy name.
    pub fn name(&self) -> &'static str {
        match self {
            RestartPolicy::No => "no",
            RestartPolicy::Always => "always",
            RestartPolicy::UnlessStopped => "unless-stopped",
            RestartPolicy::OnFailure { .. } => "on-failure",
        }
    }

    pub fn max_retries(&self) -> u32 {
        match self {
            RestartPolicy::OnFailure { max_retries } => *max_retries,
            _ => 0,
        }
    }

    /// Whether `system boot` starts a container with this policy: `always`, and
    /// `unless-stopped` unless the user stopped it.
    pub fn starts_at_boot(&self, manually_stopped: bool) -> bool {
        match self {
            RestartPolicy::Always => true,
            RestartPolicy::UnlessStopped => !manually_stopped,
            RestartPolicy::No | RestartPolicy::OnFailure { .. } => false,
        }
    }
}

/// One supervisor's restart decisions for its container: the delay grows with each restart.
#[derive(Debug, Clone)]
pub struct Backoff {
    policy: RestartPolicy,
    delay: Option<Duration>,
}

impl Backoff {
    pub fn new(policy: RestartPolicy) -> Backoff {
        Backoff { policy, delay: None }
    }

    /// The policy `berth update --restart` changed in the record, for the decisions to come.
    pub fn set_policy(&mut self, policy: RestartPolicy) {
        self.policy = policy;
    }

    /// After a run of `ran` that ended with `exit_code`, the container having been restarted
    /// `restart_count` times already: the delay before the next start, or None for no restart.
    /// A container stopped by the user is never restarted.
    pub fn next(
        &mut self,
        exit_code: i32,
        restart_count: u32,
        ran: Duration,
        manually_stopped: bool,
    ) -> Option<Duration> {
        if self.policy.is_no() || manually_stopped {
            return None;
        }
        if ran >= RESET_AFTER {
            self.delay = None;
        }
        let delay = match self.delay {
            None => FIRST_DELAY,
            Some(d) => (d * 2).min(MAX_DELAY),
        };
        self.delay = Some(delay);
        let restart = match self.policy {
            RestartPolicy::No => false,
            RestartPolicy::Always | RestartPolicy::UnlessStopped => true,
            RestartPolicy::OnFailure { max_retries } => {
                exit_code != 0 && (max_retries == 0 || restart_count < max_retries)
            }
        };
        restart.then_some(delay)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policies_parse_as_dockers_flag() {
        assert_eq!(RestartPolicy::parse("no"), Ok(RestartPolicy::No));
        assert_eq!(RestartPolicy::parse(""), Ok(RestartPolicy::No));
        assert_eq!(RestartPolicy::parse("always"), Ok(RestartPolicy::Always));
        assert_eq!(RestartPolicy::parse("unless-stopped"), Ok(RestartPolicy::UnlessStopped));
        assert_eq!(RestartPolicy::parse("on-failure"), Ok(RestartPolicy::OnFailure { max_retries: 0 }));
        assert_eq!(RestartPolicy::parse("on-failure:2"), Ok(RestartPolicy::OnFailure { max_retries: 2 }));
        assert_eq!(RestartPolicy::parse(":2"), Err(RestartPolicyError::NoName));
        assert_eq!(RestartPolicy::parse("on-failure:x"), Err(RestartPolicyError::Count));
        assert_eq!(RestartPolicy::parse("on-failure:-1"), Err(RestartPolicyError::Negative));
        assert_eq!(RestartPolicy::parse("always:3"), Err(RestartPolicyError::CountWithoutOnFailure));
        assert_eq!(RestartPolicy::parse("sometimes"), Err(RestartPolicyError::Unknown("sometimes".into())));
    }

    #[test]
    fn policies_are_stored_by_dockers_names() {
        let json = serde_json::to_value(RestartPolicy::OnFailure { max_retries: 2 }).unwrap();
        assert_eq!(json, serde_json::json!({"name": "on-failure", "max_retries": 2}));
        assert_eq!(serde_json::from_value::<RestartPolicy>(json).unwrap(), RestartPolicy::OnFailure { max_retries: 2 });
        assert_eq!(serde_json::to_value(RestartPolicy::Always).unwrap(), serde_json::json!({"name": "always"}));
    }

    #[test]
    fn decisions_follow_the_policy_and_the_delay_doubles_until_a_long_run() {
        let short = Duration::from_secs(1);
        let mut always = Backoff::new(RestartPolicy::Always);
        assert_eq!(always.next(0, 0, short, false), Some(Duration::from_millis(100)));
        assert_eq!(always.next(1, 1, short, false), Some(Duration::from_millis(200)));
        assert_eq!(always.next(1, 2, short, false), Some(Duration::from_millis(400)));
        assert_eq!(always.next(1, 3, Duration::from_secs(10), false), Some(Duration::from_millis(100)));
        assert_eq!(always.next(0, 4, short, true), None, "a stop is never undone");
        for _ in 0..20 {
            always.next(1, 0, short, false);
        }
        assert_eq!(always.next(1, 0, short, false), Some(MAX_DELAY));

        let mut on_failure = Backoff::new(RestartPolicy::OnFailure { max_retries: 2 });
        assert_eq!(on_failure.next(0, 0, short, false), None, "success is not a failure");
        assert!(on_failure.next(3, 0, short, false).is_some());
        assert!(on_failure.next(3, 1, short, false).is_some());
        assert_eq!(on_failure.next(3, 2, short, false), None, "two restarts, then no more");
        assert!(Backoff::new(RestartPolicy::OnFailure { max_retries: 0 }).next(1, 100, short, false).is_some());
        assert_eq!(Backoff::new(RestartPolicy::No).next(1, 0, short, false), None);
    }

    #[test]
    fn boot_starts_always_and_unless_stopped_if_not_stopped() {
        assert!(RestartPolicy::Always.starts_at_boot(true));
        assert!(RestartPolicy::UnlessStopped.starts_at_boot(false));
        assert!(!RestartPolicy::UnlessStopped.starts_at_boot(true));
        assert!(!RestartPolicy::OnFailure { max_retries: 0 }.starts_at_boot(false));
        assert!(!RestartPolicy::No.starts_at_boot(false));
    }
}
