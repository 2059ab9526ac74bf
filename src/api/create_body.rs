//! `POST /containers/create`'s body (Config + HostConfig + NetworkingConfig) in the words of
//! `run`'s flags ([`CreateFlags`]), so the API's containers are made by the same checks and
//! code as the CLI's. A field berth cannot honour is refused by name, never dropped.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::error::ApiError;
use crate::container::net_config::NetFlags;
use crate::container::options::CreateFlags;

fn strings(value: Option<&Value>, field: &str) -> Result<Vec<String>, ApiError> {
    match value {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| v.as_str().map(str::to_owned).ok_or_else(|| ApiError::bad(format!("{field}: expected strings"))))
            .collect(),
        // Docker accepts a string where a list is expected for Cmd and Entrypoint.
        Some(Value::String(s)) => Ok(vec![s.clone()]),
        Some(_) => Err(ApiError::bad(format!("{field}: expected a list of strings"))),
    }
}

fn text(object: &Map<String, Value>, field: &str) -> Result<Option<String>, ApiError> {
    match object.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.is_empty() => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(ApiError::bad(format!("{field}: expected a string"))),
    }
}

fn flag(object: &Map<String, Value>, field: &str) -> Result<bool, ApiError> {
    match object.get(field) {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(_) => Err(ApiError::bad(format!("{field}: expected true or false"))),
    }
}

fn number(object: &Map<String, Value>, field: &str) -> Result<Option<i64>, ApiError> {
    match object.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v.as_i64().map(Some).ok_or_else(|| ApiError::bad(format!("{field}: expected a number"))),
    }
}

/// `{"K": "V"}` as `K=V` words.
fn labels(value: Option<&Value>, field: &str) -> Result<Vec<String>, ApiError> {
    Ok(string_map(value, field)?.into_iter().map(|(k, v)| format!("{k}={v}")).collect())
}

/// A JSON object of strings (labels, driver options); absent or null is empty.
pub(super) fn string_map(value: Option<&Value>, field: &str) -> Result<BTreeMap<String, String>, ApiError> {
    match value {
        None | Some(Value::Null) => Ok(BTreeMap::new()),
        Some(Value::Object(map)) => map
            .iter()
            .map(|(k, v)| {
                v.as_str()
                    .map(|v| (k.clone(), v.to_owned()))
                    .ok_or_else(|| ApiError::bad(format!("{field}.{k}: expected a string")))
            })
            .collect(),
        Some(_) => Err(ApiError::bad(format!("{field}: expected an object"))),
    }
}

fn object<'a>(value: Option<&'a Value>, field: &str) -> Result<Option<&'a Map<String, Value>>, ApiError> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(map)) => Ok(Some(map)),
        Some(_) => Err(ApiError::bad(format!("{field}: expected an object"))),
    }
}

/// The create body and `?name=` as `run`'s flags.
pub fn create_flags(body: &Value, name: Option<&str>) -> Result<CreateFlags, ApiError> {
    let config = object(Some(body), "body")?.ok_or_else(|| ApiError::bad("the request body must be a JSON object"))?;
    let image = text(config, "Image")?.ok_or_else(|| ApiError::bad("Config.Image: an image is required"))?;
    let host = object(config.get("HostConfig"), "HostConfig")?.cloned().unwrap_or_default();
    let mut command = Vec::new();
    let entrypoint = match config.get("Entrypoint") {
        None | Some(Value::Null) => None,
        value => {
            let words = strings(value, "Entrypoint")?;
            let mut words = words.into_iter();
            let first = words.next().unwrap_or_default();
            // The rest of an entrypoint list goes before Cmd: with an entrypoint given, the
            // image's Cmd is not used, so argv comes out the same.
            command.extend(words);
            Some(first)
        }
    };
    command.extend(strings(config.get("Cmd"), "Cmd")?);
    let mut volumes = strings(host.get("Binds"), "HostConfig.Binds")?;
    if let Some(anonymous) = object(config.get("Volumes"), "Volumes")? {
        volumes.extend(anonymous.keys().cloned());
    }
    let mut mounts = Vec::new();
    for mount in host.get("Mounts").and_then(Value::as_array).into_iter().flatten() {
        mounts.push(mount_flag(mount)?);
    }
    let tmpfs = object(host.get("Tmpfs"), "HostConfig.Tmpfs")?
        .map(|m| {
            m.iter()
                .map(|(path, opts)| match opts.as_str() {
                    Some("") | None => path.clone(),
                    Some(opts) => format!("{path}:{opts}"),
                })
                .collect()
        })
        .unwrap_or_default();
    let memory = number(&host, "Memory")?.filter(|&m| m > 0).map(|m| m.to_string());
    let cpus = number(&host, "NanoCpus")?.filter(|&n| n > 0).map(|n| n as f64 / 1e9);
    let cpu_shares = number(&host, "CpuShares")?.filter(|&n| n > 0).map(|n| n as u64);
    let pids_limit = number(&host, "PidsLimit")?.filter(|&n| n != 0);
    let restart = object(host.get("RestartPolicy"), "HostConfig.RestartPolicy")?;
    if let Some(policy) = restart.and_then(|r| r.get("Name")).and_then(Value::as_str)
        && !matches!(policy, "" | "no")
    {
        return Err(ApiError::NotImplemented(format!(
            "HostConfig.RestartPolicy {policy:?}: not supported through the API yet (berth run --restart is)"
        )));
    }
    Ok(CreateFlags {
        name: name.filter(|n| !n.is_empty()).map(|n| n.trim_start_matches('/').to_owned()),
        image,
        command,
        interactive: flag(config, "OpenStdin")?,
        tty: flag(config, "Tty")?,
        rm: flag(&host, "AutoRemove")?,
        env: strings(config.get("Env"), "Env")?,
        env_files: Vec::new(),
        workdir: text(config, "WorkingDir")?,
        user: text(config, "User")?,
        entrypoint,
        hostname: text(config, "Hostname")?,
        init: flag(&host, "Init")?,
        memory,
        cpus,
        cpu_shares,
        pids_limit,
        ulimits: ulimit_flags(host.get("Ulimits"))?,
        cap_add: strings(host.get("CapAdd"), "HostConfig.CapAdd")?,
        cap_drop: strings(host.get("CapDrop"), "HostConfig.CapDrop")?,
        privileged: flag(&host, "Privileged")?,
        security_opts: strings(host.get("SecurityOpt"), "HostConfig.SecurityOpt")?,
        devices: Vec::new(),
        labels: labels(config.get("Labels"), "Labels")?,
        stop_signal: text(config, "StopSignal")?,
        stop_timeout: number(config, "StopTimeout")?.and_then(|t| u32::try_from(t).ok()),
        net: net_flags(config, &host, body)?,
        userns: None,
        volumes,
        mounts,
        tmpfs,
        read_only: flag(&host, "ReadonlyRootfs")?,
        volumes_from: strings(host.get("VolumesFrom"), "HostConfig.VolumesFrom")?,
        more: Default::default(),
    })
}

/// `HostConfig.Ulimits` (`[{Name, Soft, Hard}]`) as `--ulimit NAME=SOFT:HARD` words.
fn ulimit_flags(value: Option<&Value>) -> Result<Vec<String>, ApiError> {
    let bad = || ApiError::bad("HostConfig.Ulimits: expected [{\"Name\", \"Soft\", \"Hard\"}]");
    match value {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .map(|u| {
                let name = u.get("Name").and_then(Value::as_str).ok_or_else(bad)?;
                let soft = u.get("Soft").and_then(Value::as_i64).ok_or_else(bad)?;
                let hard = u.get("Hard").and_then(Value::as_i64).ok_or_else(bad)?;
                Ok(format!("{name}={soft}:{hard}"))
            })
            .collect(),
        Some(_) => Err(bad()),
    }
}

/// A `HostConfig.Mounts` entry as `--mount`'s words.
fn mount_flag(mount: &Value) -> Result<String, ApiError> {
    let m = object(Some(mount), "HostConfig.Mounts")?.cloned().unwrap_or_default();
    let kind = text(&m, "Type")?.unwrap_or_else(|| "volume".into());
    let target = text(&m, "Target")?.ok_or_else(|| ApiError::bad("HostConfig.Mounts: Target is required"))?;
    let mut words = vec![format!("type={kind}"), format!("target={target}")];
    if let Some(source) = text(&m, "Source")? {
        words.push(format!("source={source}"));
    }
    if flag(&m, "ReadOnly")? {
        words.push("readonly".into());
    }
    Ok(words.join(","))
}

fn net_flags(config: &Map<String, Value>, host: &Map<String, Value>, body: &Value) -> Result<NetFlags, ApiError> {
    let mut net = NetFlags::default();
    // The docker CLI sends "bridge" when the user named no network: that is the engine's
    // default, which for berth is `[network] default_network` (the bridge unless configured).
    let engine_default = |mode: &str| matches!(mode, "default" | "bridge");
    let mode = text(host, "NetworkMode")?;
    match mode.as_deref() {
        None => {}
        Some(m) if engine_default(m) => {}
        Some(m) => net.networks.push(m.to_owned()),
    }
    if let Some(endpoints) = body.pointer("/NetworkingConfig/EndpointsConfig").and_then(Value::as_object) {
        for (network, endpoint) in endpoints {
            if engine_default(network) && mode.as_deref().is_none_or(engine_default) {
                continue;
            }
            if !net.networks.contains(network) {
                net.networks.push(network.clone());
            }
            if let Some(aliases) = endpoint.get("Aliases") {
                net.aliases.extend(strings(Some(aliases), "EndpointsConfig.Aliases")?);
            }
        }
    }
    if let Some(bindings) = object(host.get("PortBindings"), "HostConfig.PortBindings")? {
        for (port, hosts) in bindings {
            let hosts = hosts.as_array().cloned().unwrap_or_default();
            if hosts.is_empty() {
                net.publish.push(port.clone());
            }
            for binding in hosts {
                let ip = binding.get("HostIp").and_then(Value::as_str).unwrap_or("");
                let host_port = binding.get("HostPort").and_then(Value::as_str).unwrap_or("");
                net.publish.push(match (ip, host_port) {
                    ("", "") => port.clone(),
                    ("", hp) => format!("{hp}:{port}"),
                    (ip, hp) => format!("{ip}:{hp}:{port}"),
                });
            }
        }
    }
    net.publish_all = flag(host, "PublishAllPorts")?;
    if let Some(exposed) = object(config.get("ExposedPorts"), "ExposedPorts")? {
        net.expose.extend(exposed.keys().cloned());
    }
    net.add_hosts = strings(host.get("ExtraHosts"), "HostConfig.ExtraHosts")?;
    net.dns = strings(host.get("Dns"), "HostConfig.Dns")?;
    net.dns_search = strings(host.get("DnsSearch"), "HostConfig.DnsSearch")?;
    net.dns_options = strings(host.get("DnsOptions"), "HostConfig.DnsOptions")?;
    net.domainname = text(config, "Domainname")?;
    Ok(net)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_docker_cli_create_body_becomes_run_flags() {
        let body = json!({
            "Image": "busybox", "Cmd": ["echo", "hi"], "Entrypoint": ["/bin/sh", "-c"], "Env": ["A=1"],
            "Tty": false, "OpenStdin": true, "Labels": {"a": "b"},
            "HostConfig": {"AutoRemove": true, "Binds": ["v1:/data"], "Memory": 67108864,
                "PortBindings": {"80/tcp": [{"HostIp": "", "HostPort": "8080"}]}, "NetworkMode": "bridge",
                "Ulimits": [{"Name": "nofile", "Soft": 1024, "Hard": 2048}]},
            "NetworkingConfig": {"EndpointsConfig": {"bridge": {}}},
        });
        let flags = create_flags(&body, Some("web")).unwrap();
        assert_eq!(flags.name.as_deref(), Some("web"));
        assert_eq!(flags.entrypoint.as_deref(), Some("/bin/sh"));
        assert_eq!(flags.command, vec!["-c", "echo", "hi"]);
        assert!(flags.rm && flags.interactive && !flags.tty);
        assert_eq!(flags.volumes, vec!["v1:/data"]);
        assert_eq!(flags.memory.as_deref(), Some("67108864"));
        assert_eq!(flags.net.publish, vec!["8080:80/tcp"]);
        assert!(flags.net.networks.is_empty());
        assert_eq!(flags.labels, vec!["a=b"]);
        assert_eq!(flags.ulimits, vec!["nofile=1024:2048"]);
    }

    #[test]
    fn bad_bodies_are_refused_by_field() {
        for (body, word) in [
            (json!([1]), "object"),
            (json!({}), "Image"),
            (json!({"Image": "x", "Cmd": [1]}), "Cmd"),
            (json!({"Image": "x", "Tty": "yes"}), "Tty"),
            (json!({"Image": "x", "HostConfig": {"RestartPolicy": {"Name": "always"}}}), "RestartPolicy"),
        ] {
            let e = create_flags(&body, None).unwrap_err().to_string();
            assert!(e.contains(word), "{e}");
        }
    }
}
