//! `run`/`create`'s health check and restart flags, flattened into their arguments.

use anyhow::{Result, bail};
use clap::Args;

use crate::container::create::CreateOptions;
use crate::container::restart::{RestartPolicy, RestartPolicyError};
use crate::image::instructions::parse_duration;
use crate::image::spec::HealthConfig;

#[derive(Args, Debug, Clone, Default)]
pub struct HealthFlags {
    /// Command to run to check health
    #[arg(long, value_name = "COMMAND")]
    pub health_cmd: Option<String>,
    /// Time between running the check (ms|s|m|h)
    #[arg(long, value_name = "DURATION")]
    pub health_interval: Option<String>,
    /// Maximum time to allow one check to run (ms|s|m|h)
    #[arg(long, value_name = "DURATION")]
    pub health_timeout: Option<String>,
    /// Consecutive failures needed to report unhealthy
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    pub health_retries: Option<i64>,
    /// Start period for the container to initialize before starting health-retries countdown (ms|s|m|h)
    #[arg(long, value_name = "DURATION")]
    pub health_start_period: Option<String>,
    /// Time between running the check during the start period (ms|s|m|h)
    #[arg(long, value_name = "DURATION")]
    pub health_start_interval: Option<String>,
    /// Disable any container-specified HEALTHCHECK
    #[arg(long)]
    pub no_healthcheck: bool,
    /// Restart policy to apply when a container exits: no, always, on-failure[:N], unless-stopped
    #[arg(long, value_name = "POLICY")]
    pub restart: Option<String>,
}

impl HealthFlags {
    /// The container's own health check: None to take the image's.
    fn healthcheck(&self) -> Result<Option<HealthConfig>> {
        let durations = [
            ("health-interval", &self.health_interval),
            ("health-timeout", &self.health_timeout),
            ("health-start-period", &self.health_start_period),
            ("health-start-interval", &self.health_start_interval),
        ];
        let mut nanos = [0i64; 4];
        for (slot, (flag, text)) in nanos.iter_mut().zip(durations) {
            if let Some(text) = text {
                *slot = parse_duration(text, flag)?;
                if *slot != 0 && *slot < 1_000_000 {
                    bail!("--{flag} cannot be less than 1ms");
                }
            }
        }
        let retries = self.health_retries.unwrap_or(0);
        let any =
            self.health_cmd.as_deref().is_some_and(|c| !c.is_empty()) || nanos.iter().any(|n| *n != 0) || retries != 0;
        if self.no_healthcheck {
            if any {
                bail!("--no-healthcheck conflicts with --health-* options");
            }
            return Ok(Some(HealthConfig { test: vec!["NONE".into()], ..Default::default() }));
        }
        if !any {
            return Ok(None);
        }
        if retries < 0 {
            bail!("--health-retries cannot be negative");
        }
        let test = match self.health_cmd.as_deref() {
            Some(cmd) if !cmd.is_empty() => vec!["CMD-SHELL".to_owned(), cmd.to_owned()],
            _ => Vec::new(),
        };
        let [interval, timeout, start_period, start_interval] = nanos;
        Ok(Some(HealthConfig { test, interval, timeout, start_period, start_interval, retries, ..Default::default() }))
    }

    /// Puts what these flags say into `options` (parsed from the other flags).
    pub fn apply(&self, options: &mut CreateOptions) -> Result<()> {
        options.healthcheck = self.healthcheck()?;
        options.restart = RestartPolicy::parse(self.restart.as_deref().unwrap_or(""))?;
        if options.auto_remove && !options.restart.is_no() {
            return Err(RestartPolicyError::WithAutoRemove.into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flags(f: impl FnOnce(&mut HealthFlags)) -> HealthFlags {
        let mut flags = HealthFlags::default();
        f(&mut flags);
        flags
    }

    #[test]
    fn health_flags_make_dockers_check() {
        assert_eq!(HealthFlags::default().healthcheck().unwrap(), None);
        let check = flags(|f| {
            f.health_cmd = Some("test -e /ok".into());
            f.health_interval = Some("1s".into());
            f.health_retries = Some(2);
        })
        .healthcheck()
        .unwrap()
        .unwrap();
        assert_eq!(check.test, ["CMD-SHELL", "test -e /ok"]);
        assert_eq!((check.interval, check.retries, check.timeout), (1_000_000_000, 2, 0));
        let only_interval = flags(|f| f.health_interval = Some("2s".into())).healthcheck().unwrap().unwrap();
        assert!(only_interval.test.is_empty(), "the image's test stays");
        let none = flags(|f| f.no_healthcheck = true).healthcheck().unwrap().unwrap();
        assert_eq!(none.test, ["NONE"]);
    }

    #[test]
    fn bad_health_flags_are_refused() {
        let err = |f: HealthFlags| f.healthcheck().unwrap_err().to_string();
        assert_eq!(
            err(flags(|f| {
                f.no_healthcheck = true;
                f.health_cmd = Some("true".into());
            })),
            "--no-healthcheck conflicts with --health-* options"
        );
        assert_eq!(err(flags(|f| f.health_retries = Some(-1))), "--health-retries cannot be negative");
        assert_eq!(err(flags(|f| f.health_timeout = Some("10us".into()))), "--health-timeout cannot be less than 1ms");
        assert!(err(flags(|f| f.health_interval = Some("soon".into()))).contains("--health-interval"));
    }

    #[test]
    fn restart_goes_with_rm_never() {
        let mut options = CreateOptions { auto_remove: true, ..Default::default() };
        let e = flags(|f| f.restart = Some("always".into())).apply(&mut options).unwrap_err();
        assert_eq!(e.to_string(), "conflicting options: cannot specify both --restart and --rm");
        flags(|f| f.restart = Some("no".into())).apply(&mut options).unwrap();
        let mut options = CreateOptions::default();
        flags(|f| f.restart = Some("on-failure:3".into())).apply(&mut options).unwrap();
        assert_eq!(options.restart, RestartPolicy::OnFailure { max_retries: 3 });
    }
}
