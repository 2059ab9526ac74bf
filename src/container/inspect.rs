//! How a container is described to users: Docker's ContainerInspect document, and the human
//! status and age texts `ps` shows ("Up 3 seconds", "Exited (0) 2 minutes ago").

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::logfile::log_path;
use super::record::{Container, ContainerConfig, NetworkMode, Status, UsernsMode};
use crate::store::Store;

/// Go's zero time, which Docker prints for "never".
const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

/// Docker's (go-units) HumanDuration.
pub fn human_duration(d: chrono::Duration) -> String {
    let seconds = d.num_seconds();
    if seconds < 1 {
        return "Less than a second".into();
    }
    if seconds == 1 {
        return "1 second".into();
    }
    if seconds < 60 {
        return format!("{seconds} seconds");
    }
    let minutes = d.num_minutes();
    if minutes == 1 {
        return "About a minute".into();
    }
    if minutes < 60 {
        return format!("{minutes} minutes");
    }
    let hours = (d.num_seconds() as f64 / 3600.0 + 0.5) as i64;
    match hours {
        1 => "About an hour".into(),
        h if h < 48 => format!("{h} hours"),
        h if h < 24 * 7 * 2 => format!("{} days", h / 24),
        h if h < 24 * 30 * 2 => format!("{} weeks", h / 24 / 7),
        h if h < 24 * 365 * 2 => format!("{} months", h / 24 / 30),
        _ => format!("{} years", d.num_hours() / 24 / 365),
    }
}

fn parse_time(text: Option<&str>) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text?).ok().map(|t| t.with_timezone(&Utc))
}

/// "5 seconds ago": how long ago an RFC 3339 time was.
pub fn time_ago(text: &str, now: DateTime<Utc>) -> String {
    match parse_time(Some(text)) {
        Some(t) => format!("{} ago", human_duration(now - t)),
        None => String::new(),
    }
}

/// `ps`'s STATUS column for a container whose state was refreshed.
pub fn status_text(container: &Container, now: DateTime<Utc>) -> String {
    let state = &container.state;
    match state.status {
        Status::Created => "Created".into(),
        Status::Starting => "Starting".into(),
        Status::Running | Status::Paused => {
            let up = parse_time(state.started_at.as_deref())
                .map_or_else(|| "Up".to_owned(), |t| format!("Up {}", human_duration(now - t)));
            match (&state.health, super::health::active(&container.config)) {
                _ if state.status == Status::Paused => format!("{up} (Paused)"),
                (Some(health), Some(_)) => format!("{up} ({})", health.status.ps_text()),
                _ => up,
            }
        }
        Status::Exited => {
            let code = state.exit_code.unwrap_or(0);
            let what = if state.restarting_now() { "Restarting" } else { "Exited" };
            match parse_time(state.finished_at.as_deref()) {
                Some(t) => format!("{what} ({code}) {} ago", human_duration(now - t)),
                None => format!("{what} ({code})"),
            }
        }
    }
}

/// The command as `ps` shows it: entrypoint and cmd joined by spaces.
pub fn command_line(container: &Container) -> String {
    container.config.argv().join(" ")
}

/// HostConfig.NetworkMode: Docker's `bridge` for the default network, else the first
/// network's name.
fn network_mode_name(config: &super::record::ContainerConfig) -> String {
    match config.network {
        NetworkMode::Bridge => config.net.network_names().next().unwrap_or("bridge").to_owned(),
        NetworkMode::Private => "private".into(),
        NetworkMode::Container => format!("container:{}", config.net.container),
        NetworkMode::None => "none".into(),
        NetworkMode::Host => "host".into(),
    }
}

/// Docker shows an empty list as null.
fn strings_or_null(items: &[String]) -> Value {
    if items.is_empty() { Value::Null } else { json!(items) }
}

/// HostConfig.SecurityOpt: what differs from berth's defaults, in `--security-opt` form (a
/// profile given by file shows its content, as in Docker).
pub fn security_opt(config: &super::record::ContainerConfig) -> Vec<String> {
    let mut opts = Vec::new();
    if !config.no_new_privileges {
        opts.push("no-new-privileges=false".to_owned());
    }
    if let Some(profile) = &config.seccomp_profile {
        opts.push(format!("seccomp={profile}"));
    }
    opts
}

/// Docker's ContainerInspect for one container whose state was refreshed.
pub fn inspect_json(store: &Store, container: &Container) -> Value {
    let config = &container.config;
    let state = &container.state;
    let live = matches!(state.status, Status::Running | Status::Paused);
    let argv = config.argv();
    let dir = store.container_dir(&container.id);
    let ulimits: Option<Vec<Value>> = (!config.ulimits.is_empty())
        .then(|| config.ulimits.iter().map(|u| json!({ "Name": u.name, "Soft": u.soft, "Hard": u.hard })).collect());
    let mut config_json = json!({
        "Hostname": config.hostname,
        "Domainname": "",
        "User": config.user,
        "AttachStdin": false,
        "AttachStdout": false,
        "AttachStderr": false,
        "Tty": config.tty,
        "OpenStdin": config.open_stdin,
        "StdinOnce": false,
        "Env": config.env,
        "Cmd": if config.cmd.is_empty() { Value::Null } else { json!(config.cmd) },
        "Image": config.image_name,
        "Volumes": if config.volumes.is_empty() { Value::Null } else { config.volumes.iter().map(|v| (v.clone(), json!({}))).collect::<serde_json::Map<String, Value>>().into() },
        "WorkingDir": config.working_dir,
        "Entrypoint": if config.entrypoint.is_empty() { Value::Null } else { json!(config.entrypoint) },
        "OnBuild": null,
        "Labels": config.labels,
        "StopSignal": config.stop_signal,
    });
    if let Some(timeout) = config.stop_timeout {
        config_json["StopTimeout"] = json!(timeout);
    }
    if let Some(check) = &config.healthcheck {
        config_json["Healthcheck"] = json!(check);
    }
    let mut inspect = json!({
        "Id": container.id,
        "Created": container.created,
        "Path": argv.first().cloned().unwrap_or_default(),
        "Args": argv.iter().skip(1).collect::<Vec<_>>(),
        "State": {
            "Status": if state.restarting_now() { "restarting" } else { state.status.as_str() },
            "Running": live,
            "Paused": state.status == Status::Paused,
            "Restarting": state.restarting_now(),
            "OOMKilled": state.oom_killed,
            "Dead": false,
            "Pid": if live { state.pid } else { 0 },
            "ExitCode": if live { 0 } else { state.exit_code.unwrap_or(0) },
            "Error": state.error.clone().unwrap_or_default(),
            "StartedAt": state.started_at.clone().unwrap_or_else(|| ZERO_TIME.into()),
            "FinishedAt": state.finished_at.clone().filter(|_| !live).unwrap_or_else(|| ZERO_TIME.into()),
        },
        "Image": config.image_id,
        "ResolvConfPath": dir.join("resolv.conf"),
        "HostnamePath": dir.join("hostname"),
        "HostsPath": dir.join("hosts"),
        "LogPath": log_path(&dir),
        "Name": format!("/{}", container.name),
        "RestartCount": state.restart_count,
        "Driver": "overlay",
        "Platform": "linux",
        "MountLabel": "",
        "ProcessLabel": "",
        "AppArmorProfile": "",
        "HostConfig": {
            "NetworkMode": network_mode_name(config),
            "RestartPolicy": { "Name": config.restart.name(), "MaximumRetryCount": config.restart.max_retries() },
            "AutoRemove": config.auto_remove,
            "Privileged": config.privileged,
            "CapAdd": strings_or_null(&config.cap_add),
            "CapDrop": strings_or_null(&config.cap_drop),
            "SecurityOpt": strings_or_null(&security_opt(config)),
            "Devices": config.devices.iter().map(|d| json!({
                "PathOnHost": d.path_on_host,
                "PathInContainer": d.path_in_container,
                "CgroupPermissions": d.cgroup_permissions,
            })).collect::<Vec<_>>(),
            "UsernsMode": if config.userns == UsernsMode::KeepId { "keep-id" } else { "" },
            "Memory": config.resources.memory.unwrap_or(0),
            "NanoCpus": config.resources.nano_cpus.unwrap_or(0),
            "CpuShares": config.resources.cpu_shares.unwrap_or(0),
            "PidsLimit": config.resources.pids_limit,
            "Ulimits": ulimits,
            "Init": config.init,
            "ReadonlyRootfs": config.read_only,
            "VolumesFrom": if config.volumes_from.is_empty() { Value::Null } else { json!(config.volumes_from) },
        },
        "GraphDriver": {
            "Name": "overlay",
            "Data": { "UpperDir": dir.join("upper"), "WorkDir": dir.join("work") },
        },
        "Mounts": super::mounts::inspect_mounts(store, config),
        "Config": config_json,
        "NetworkSettings": super::net_view::network_settings(store, container, &super::net_view::LiveNetworks::load(store)),
    });
    if let (Some(host_config), Value::Object(more)) = (inspect["HostConfig"].as_object_mut(), more_host_config(config))
    {
        host_config.extend(more);
    }
    if let (Some(health), Some(_)) = (&state.health, super::health::active(config)) {
        inspect["State"]["Health"] = json!(health);
    }
    inspect
}

/// HostConfig's resource and kernel settings beyond the basic limits (one json! for all of
/// HostConfig would pass serde_json's macro recursion limit).
fn more_host_config(config: &ContainerConfig) -> Value {
    let (more, host) = (&config.resources.more, &config.process_host);
    json!({
        "MemorySwap": more.memory_swap.unwrap_or(0),
        "MemoryReservation": more.memory_reservation.unwrap_or(0),
        "OomKillDisable": more.oom_kill_disable,
        "CpuPeriod": more.cpu_period.unwrap_or(0),
        "CpuQuota": more.cpu_quota.unwrap_or(0),
        "CpusetCpus": more.cpuset_cpus.clone().unwrap_or_default(),
        "CpusetMems": more.cpuset_mems.clone().unwrap_or_default(),
        "BlkioWeight": more.blkio_weight.unwrap_or(0),
        "BlkioDeviceReadBps": throttles(&more.device_read_bps),
        "BlkioDeviceWriteBps": throttles(&more.device_write_bps),
        "BlkioDeviceReadIOps": throttles(&more.device_read_iops),
        "BlkioDeviceWriteIOps": throttles(&more.device_write_iops),
        "OomScoreAdj": host.oom_score_adj.unwrap_or(0),
        "DeviceCgroupRules": strings_or_null(&host.device_cgroup_rules),
        "CgroupnsMode": host.cgroupns.as_str(),
        "ShmSize": host.shm_size.unwrap_or(super::resource_options::DEFAULT_SHM_SIZE),
        "Sysctls": if host.sysctls.is_empty() { Value::Null } else { json!(host.sysctls) },
        "GroupAdd": strings_or_null(&host.group_add),
        "Annotations": if host.annotations.is_empty() { Value::Null } else { json!(host.annotations) },
        "LogConfig": { "Type": super::log_config::driver_name(config), "Config": host.log_opts },
        "PidMode": host.pid_mode,
        "IpcMode": if host.ipc_mode.is_empty() { "private" } else { host.ipc_mode.as_str() },
        "UTSMode": host.uts_mode,
    })
}

/// Docker's `[{"Path": …, "Rate": …}]`, or null when there are none.
fn throttles(list: &[crate::sandbox::cgroup::ThrottleDevice]) -> Value {
    if list.is_empty() {
        return Value::Null;
    }
    list.iter().map(|t| json!({ "Path": t.path, "Rate": t.rate })).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::container::record::{ContainerConfig, ContainerState};

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn durations_read_like_dockers() {
        let d = chrono::Duration::seconds;
        assert_eq!(human_duration(d(0)), "Less than a second");
        assert_eq!(human_duration(d(1)), "1 second");
        assert_eq!(human_duration(d(59)), "59 seconds");
        assert_eq!(human_duration(d(90)), "About a minute");
        assert_eq!(human_duration(d(600)), "10 minutes");
        assert_eq!(human_duration(d(3600)), "About an hour");
        assert_eq!(human_duration(d(5 * 3600)), "5 hours");
        assert_eq!(human_duration(d(3 * 86400)), "3 days");
        assert_eq!(human_duration(d(21 * 86400)), "3 weeks");
        assert_eq!(human_duration(d(90 * 86400)), "3 months");
        assert_eq!(human_duration(d(3 * 365 * 86400)), "3 years");
    }

    #[test]
    fn status_texts() {
        let now = at("2024-01-01T00:01:00Z");
        let mut c = Container {
            id: "a".repeat(64),
            name: "x".into(),
            created: "2024-01-01T00:00:00Z".into(),
            config: ContainerConfig::default(),
            state: ContainerState::default(),
        };
        assert_eq!(status_text(&c, now), "Created");
        c.state.status = Status::Starting;
        assert_eq!(status_text(&c, now), "Starting");
        c.state.status = Status::Running;
        c.state.started_at = Some("2024-01-01T00:00:57Z".into());
        assert_eq!(status_text(&c, now), "Up 3 seconds");
        c.state.status = Status::Paused;
        assert_eq!(status_text(&c, now), "Up 3 seconds (Paused)");
        c.state.status = Status::Running;
        c.state.health = Some(Default::default());
        assert_eq!(status_text(&c, now), "Up 3 seconds", "no check, no health shown");
        c.config.healthcheck =
            Some(crate::image::spec::HealthConfig { test: vec!["CMD".into(), "x".into()], ..Default::default() });
        assert_eq!(status_text(&c, now), "Up 3 seconds (health: starting)");
        c.state.health.as_mut().unwrap().status = crate::container::health::HealthStatus::Unhealthy;
        assert_eq!(status_text(&c, now), "Up 3 seconds (unhealthy)");
        c.state.status = Status::Paused;
        assert_eq!(status_text(&c, now), "Up 3 seconds (Paused)");
        c.state.status = Status::Exited;
        c.state.exit_code = Some(3);
        c.state.finished_at = Some("2024-01-01T00:00:58.5Z".into());
        assert_eq!(status_text(&c, now), "Exited (3) 1 second ago");
        // Waiting out a restart's back-off, while its supervisor (here: this process) lives.
        let me = std::process::id() as i32;
        c.state.restarting = true;
        c.state.supervisor_pid = me;
        c.state.supervisor_start_time = crate::container::liveness::process_start_time(me).unwrap();
        assert_eq!(status_text(&c, now), "Restarting (3) 1 second ago");
        c.state.manually_stopped = true;
        assert_eq!(status_text(&c, now), "Exited (3) 1 second ago", "a stop ends it");
        assert_eq!(time_ago(&c.created, now), "About a minute ago");
    }
}
