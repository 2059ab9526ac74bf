//! From the merged YAML tree to the typed model: each key checked (known, of the right type),
//! short syntaxes turned long, paths made absolute, names given the project prefix.

use std::collections::BTreeMap;
use std::path::Path;

use super::dotenv;
use super::error::ComposeError;
use super::interpolate::Lookup;
use super::model::*;
use super::scalars::*;
pub use super::scalars::{bytes, duration, parse_duration, shell_split, string, to_json};
use super::yaml::{Node, Value};

type R<T> = Result<T, ComposeError>;

const SERVICE_KEYS: &[&str] = &[
    "annotations",
    "attach",
    "build",
    "cap_add",
    "cap_drop",
    "cgroup",
    "cgroup_parent",
    "command",
    "configs",
    "container_name",
    "cpu_count",
    "cpu_percent",
    "cpu_period",
    "cpu_quota",
    "cpu_shares",
    "cpus",
    "cpuset",
    "depends_on",
    "deploy",
    "develop",
    "device_cgroup_rules",
    "devices",
    "dns",
    "dns_opt",
    "dns_search",
    "domainname",
    "entrypoint",
    "env_file",
    "environment",
    "expose",
    "extends",
    "external_links",
    "extra_hosts",
    "group_add",
    "healthcheck",
    "hostname",
    "image",
    "init",
    "ipc",
    "isolation",
    "labels",
    "links",
    "logging",
    "mac_address",
    "mem_limit",
    "mem_reservation",
    "mem_swappiness",
    "memswap_limit",
    "network_mode",
    "networks",
    "oom_kill_disable",
    "oom_score_adj",
    "pid",
    "pids_limit",
    "platform",
    "ports",
    "post_start",
    "pre_stop",
    "privileged",
    "profiles",
    "pull_policy",
    "read_only",
    "restart",
    "runtime",
    "scale",
    "secrets",
    "security_opt",
    "shm_size",
    "stdin_open",
    "stop_grace_period",
    "stop_signal",
    "storage_opt",
    "sysctls",
    "tmpfs",
    "tty",
    "ulimits",
    "user",
    "userns_mode",
    "uts",
    "volumes",
    "volumes_from",
    "working_dir",
];

/// Keys berth accepts in the file but cannot honour yet: refused clearly rather than ignored.
const UNSUPPORTED: &[&str] = &[
    "cgroup",
    "cgroup_parent",
    "cpu_count",
    "cpu_percent",
    "cpu_period",
    "cpu_quota",
    "cpuset",
    "develop",
    "device_cgroup_rules",
    "external_links",
    "group_add",
    "ipc",
    "isolation",
    "links",
    "mem_reservation",
    "mem_swappiness",
    "memswap_limit",
    "oom_kill_disable",
    "oom_score_adj",
    "pid",
    "post_start",
    "pre_stop",
    "runtime",
    "shm_size",
    "storage_opt",
    "userns_mode",
    "uts",
    "volumes_from",
    "attach",
    "annotations",
];

pub struct Context<'a> {
    pub project: &'a str,
    pub dir: &'a Path,
    pub env: &'a dyn Lookup,
}

pub fn service(name: &str, n: &Node, cx: &Context<'_>) -> R<Service> {
    let path = format!("services.{name}");
    check_keys(n, &path, SERVICE_KEYS)?;
    for (key, value) in n.entries() {
        if UNSUPPORTED.contains(&key.name.as_str()) && !value.is_null() {
            return Err(ComposeError::At {
                file: value.file.to_path_buf(),
                line: key.line,
                key: join(&path, &key.name),
                message: "not supported by berth yet".into(),
            });
        }
    }
    let p = |k: &str| join(&path, k);
    let mut s = Service::default();
    for (key, v) in n.entries() {
        let k = key.name.as_str();
        let kp = p(k);
        if v.is_null() && !matches!(k, "environment" | "networks" | "depends_on") {
            continue;
        }
        if k.starts_with("x-") {
            continue;
        }
        match k {
            "build" => s.build = Some(build(v, &kp, cx)?),
            "cap_add" => s.cap_add = list(v, &kp)?,
            "cap_drop" => s.cap_drop = list(v, &kp)?,
            "command" => s.command = command(v, &kp)?,
            "entrypoint" => s.entrypoint = command(v, &kp)?,
            "configs" => s.configs = file_refs(v, &kp)?,
            "secrets" => s.secrets = file_refs(v, &kp)?,
            "container_name" => s.container_name = Some(string(v, &kp)?),
            "cpus" => s.cpus = Some(number(v, &kp)?),
            "cpu_shares" => {
                integer(v, &kp)?;
            }
            "depends_on" => s.depends_on = depends_on(v, &kp)?,
            "deploy" => s.deploy = Some(deploy(v, &kp)?),
            "devices" => s.devices = devices(v, &kp)?,
            "dns" => s.dns = string_or_list(v, &kp)?,
            "dns_opt" => s.dns_opt = list(v, &kp)?,
            "dns_search" => s.dns_search = string_or_list(v, &kp)?,
            "domainname" => s.domainname = Some(string(v, &kp)?),
            "mac_address" => s.mac_address = Some(string(v, &kp)?),
            "environment" => {
                for (k, val) in dict(v, &kp)? {
                    let val = val.or_else(|| cx.env.get(&k));
                    s.environment.insert(k, val);
                }
            }
            "env_file" => {}
            "expose" => {
                s.expose = match &v.value {
                    Value::Seq(items) => items.iter().map(|i| string(i, &kp)).collect::<R<_>>()?,
                    _ => return Err(v.error(&kp, format!("must be a list, not {}", v.kind()))),
                }
            }
            "extends" => {}
            "extra_hosts" => {
                s.extra_hosts =
                    v.entries().iter().map(|(h, a)| Ok(format!("{}={}", h.name, string(a, &kp)?))).collect::<R<_>>()?
            }
            "healthcheck" => s.healthcheck = Some(healthcheck(v, &kp)?),
            "hostname" => s.hostname = Some(string(v, &kp)?),
            "image" => s.image = Some(string(v, &kp)?),
            "init" => s.init = Some(boolean(v, &kp)?),
            "labels" => s.labels = string_dict(v, &kp)?,
            "logging" => s.logging = Some(logging(v, &kp)?),
            "mem_limit" => s.mem_limit = Some(bytes(v, &kp)?),
            "network_mode" => s.network_mode = Some(string(v, &kp)?),
            "networks" => s.networks = service_networks(v, &kp)?,
            "pids_limit" => s.pids_limit = Some(integer(v, &kp)?),
            "platform" => s.platform = Some(string(v, &kp)?),
            "ports" => s.ports = ports(v, &kp)?,
            "privileged" => s.privileged = boolean(v, &kp)?,
            "profiles" => s.profiles = list(v, &kp)?,
            "pull_policy" => {
                let policy = string(v, &kp)?;
                let known = ["always", "never", "missing", "if_not_present", "build", "daily", "weekly"];
                if !known.contains(&policy.as_str()) && !policy.starts_with("every_") {
                    return Err(v.error(&kp, format!("unknown pull policy {policy:?}")));
                }
                s.pull_policy = Some(policy);
            }
            "read_only" => s.read_only = boolean(v, &kp)?,
            "restart" => {
                let policy = string(v, &kp)?;
                let ok = matches!(policy.as_str(), "no" | "always" | "unless-stopped" | "on-failure")
                    || policy.strip_prefix("on-failure:").is_some_and(|n| n.parse::<u32>().is_ok());
                if !ok {
                    return Err(v.error(&kp, format!("unknown restart policy {policy:?}")));
                }
                s.restart = Some(policy);
            }
            "scale" => s.scale = Some(integer(v, &kp)?.max(0) as u32),
            "security_opt" => s.security_opt = list(v, &kp)?,
            "stdin_open" => s.stdin_open = boolean(v, &kp)?,
            "stop_grace_period" => s.stop_grace_period = Some(duration(v, &kp)?),
            "stop_signal" => s.stop_signal = Some(string(v, &kp)?),
            "sysctls" => s.sysctls = string_dict(v, &kp)?,
            "tmpfs" => s.tmpfs = string_or_list(v, &kp)?,
            "tty" => s.tty = boolean(v, &kp)?,
            "ulimits" => s.ulimits = ulimits(v, &kp)?,
            "user" => s.user = Some(string(v, &kp)?),
            "volumes" => s.volumes = volumes(v, &kp, cx.dir)?,
            "working_dir" => s.working_dir = Some(string(v, &kp)?),
            _ => {}
        }
    }
    if let Some(files) = n.get("env_file") {
        let mut from_files = BTreeMap::new();
        for (file, required) in env_files(files, &p("env_file"))? {
            let full = absolute(cx.dir, &file);
            match std::fs::read_to_string(&full) {
                Ok(text) => {
                    for (k, v) in dotenv::parse(&text, Path::new(&full), cx.env)? {
                        from_files.insert(k, Some(v));
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound && !required => {}
                Err(e) => {
                    return Err(files.error(&p("env_file"), format!("env file {full} not found: {e}")));
                }
            }
        }
        for (k, v) in from_files {
            s.environment.entry(k).or_insert(v);
        }
    }
    for secret in &mut s.secrets {
        secret.target.get_or_insert_with(|| format!("/run/secrets/{}", secret.source));
    }
    if s.image.is_none() && s.build.is_none() {
        return Err(n.error(&path, "has neither an image nor a build context specified"));
    }
    if let Some(logging) = &s.logging
        && let Some(driver) = &logging.driver
        && !matches!(driver.as_str(), "k8s-file" | "json-file" | "local")
    {
        return Err(n.get("logging").unwrap_or(n).error(
            &p("logging.driver"),
            format!("logging driver {driver:?} is not supported (berth keeps logs in its own file: k8s-file)"),
        ));
    }
    if s.network_mode.is_none() && s.networks.is_empty() {
        s.networks.insert("default".into(), None);
    }
    Ok(s)
}

fn env_files(n: &Node, path: &str) -> R<Vec<(String, bool)>> {
    match &n.value {
        Value::Scalar(s, _) => Ok(vec![(s.clone(), true)]),
        Value::Seq(items) => items
            .iter()
            .map(|item| match &item.value {
                Value::Scalar(s, _) => Ok((s.clone(), true)),
                Value::Map(_) => {
                    check_keys(item, path, &["path", "required", "format"])?;
                    let file =
                        string(item.get("path").ok_or_else(|| item.error(path, "an env_file needs a path"))?, path)?;
                    Ok((file, opt_bool(item.get("required"), path)?.unwrap_or(true)))
                }
                _ => Err(item.error(path, format!("must be a string or a mapping, not {}", item.kind()))),
            })
            .collect(),
        _ => Err(n.error(path, format!("must be a string or a list, not {}", n.kind()))),
    }
}

fn build(n: &Node, path: &str, cx: &Context<'_>) -> R<Build> {
    if let Value::Scalar(context, _) = &n.value {
        return Ok(Build { context: absolute(cx.dir, context), dockerfile: "Dockerfile".into(), ..Build::default() });
    }
    check_keys(
        n,
        path,
        &[
            "context",
            "dockerfile",
            "dockerfile_inline",
            "args",
            "target",
            "secrets",
            "labels",
            "ssh",
            "cache_from",
            "cache_to",
            "additional_contexts",
            "network",
            "platforms",
            "tags",
            "pull",
            "no_cache",
            "shm_size",
            "extra_hosts",
            "isolation",
            "privileged",
        ],
    )?;
    let context = opt_string(n.get("context"), &join(path, "context"))?.unwrap_or_else(|| ".".into());
    Ok(Build {
        context: absolute(cx.dir, &context),
        dockerfile: opt_string(n.get("dockerfile"), &join(path, "dockerfile"))?.unwrap_or_else(|| "Dockerfile".into()),
        dockerfile_inline: opt_string(n.get("dockerfile_inline"), path)?,
        args: n.get("args").map(|a| dict(a, &join(path, "args"))).transpose()?.unwrap_or_default(),
        labels: n.get("labels").map(|a| string_dict(a, &join(path, "labels"))).transpose()?.unwrap_or_default(),
        target: opt_string(n.get("target"), &join(path, "target"))?,
        secrets: n.get("secrets").map(|a| file_refs(a, &join(path, "secrets"))).transpose()?.unwrap_or_default(),
    })
}

fn file_refs(n: &Node, path: &str) -> R<Vec<FileRef>> {
    let Value::Seq(items) = &n.value else {
        return Err(n.error(path, format!("must be a list, not {}", n.kind())));
    };
    items
        .iter()
        .map(|item| match &item.value {
            Value::Scalar(s, _) => Ok(FileRef { source: s.clone(), target: None, uid: None, gid: None, mode: None }),
            Value::Map(_) => {
                check_keys(item, path, &["source", "target", "uid", "gid", "mode"])?;
                let mode = match item.get("mode") {
                    Some(m) => {
                        let text = string(m, path)?;
                        let parsed = match text.strip_prefix("0o").or(text.strip_prefix('0').filter(|t| !t.is_empty()))
                        {
                            Some(oct) => u32::from_str_radix(oct, 8).ok(),
                            None => text.parse().ok(),
                        };
                        let mode =
                            parsed.ok_or_else(|| m.error(&join(path, "mode"), format!("not a file mode: {text:?}")))?;
                        Some(format!("0{mode:o}"))
                    }
                    None => None,
                };
                Ok(FileRef {
                    source: string(item.get("source").ok_or_else(|| item.error(path, "needs a source"))?, path)?,
                    target: opt_string(item.get("target"), path)?,
                    uid: opt_string(item.get("uid"), path)?,
                    gid: opt_string(item.get("gid"), path)?,
                    mode,
                })
            }
            _ => Err(item.error(path, format!("must be a string or a mapping, not {}", item.kind()))),
        })
        .collect()
}

fn depends_on(n: &Node, path: &str) -> R<BTreeMap<String, Dependency>> {
    let mut out = BTreeMap::new();
    match &n.value {
        Value::Map(entries) => {
            for (k, v) in entries {
                let kp = join(path, &k.name);
                let mut dep = Dependency { condition: "service_started".into(), required: true, restart: false };
                if !v.is_null() {
                    check_keys(v, &kp, &["condition", "required", "restart"])?;
                    if let Some(c) = opt_string(v.get("condition"), &join(&kp, "condition"))? {
                        if !matches!(
                            c.as_str(),
                            "service_started" | "service_healthy" | "service_completed_successfully"
                        ) {
                            return Err(v.error(&join(&kp, "condition"), format!("unknown condition {c:?}")));
                        }
                        dep.condition = c;
                    }
                    dep.required = opt_bool(v.get("required"), &kp)?.unwrap_or(true);
                    dep.restart = opt_bool(v.get("restart"), &kp)?.unwrap_or(false);
                }
                out.insert(k.name.clone(), dep);
            }
        }
        Value::Null => {}
        _ => return Err(n.error(path, format!("must be a list or a mapping, not {}", n.kind()))),
    }
    Ok(out)
}

fn deploy(n: &Node, path: &str) -> R<Deploy> {
    check_keys(
        n,
        path,
        &[
            "replicas",
            "resources",
            "mode",
            "labels",
            "restart_policy",
            "update_config",
            "rollback_config",
            "placement",
            "endpoint_mode",
        ],
    )?;
    let mut d = Deploy::default();
    if let Some(r) = n.get("replicas") {
        d.replicas = Some(integer(r, &join(path, "replicas"))?.max(0) as u32);
    }
    if let Some(res) = n.get("resources") {
        let rp = join(path, "resources");
        check_keys(res, &rp, &["limits", "reservations"])?;
        if let Some(l) = res.get("limits") {
            let lp = join(&rp, "limits");
            check_keys(l, &lp, &["cpus", "memory", "pids"])?;
            d.resources = Some(Resources {
                limits: Some(Limits {
                    cpus: l.get("cpus").map(|c| number(c, &join(&lp, "cpus"))).transpose()?,
                    memory: l.get("memory").map(|m| bytes(m, &join(&lp, "memory"))).transpose()?,
                    pids: l.get("pids").map(|p| integer(p, &join(&lp, "pids"))).transpose()?,
                }),
            });
        }
    }
    Ok(d)
}

fn devices(n: &Node, path: &str) -> R<Vec<Device>> {
    let Value::Seq(items) = &n.value else {
        return Err(n.error(path, format!("must be a list, not {}", n.kind())));
    };
    items
        .iter()
        .map(|item| {
            let text = string(item, path)?;
            let parts: Vec<&str> = text.split(':').collect();
            Ok(Device {
                source: parts[0].to_owned(),
                target: parts.get(1).unwrap_or(&parts[0]).to_string(),
                permissions: parts.get(2).unwrap_or(&"rwm").to_string(),
            })
        })
        .collect()
}

fn healthcheck(n: &Node, path: &str) -> R<Healthcheck> {
    check_keys(n, path, &["test", "interval", "timeout", "retries", "start_period", "start_interval", "disable"])?;
    let mut h = Healthcheck::default();
    if let Some(t) = n.get("test") {
        h.test = match &t.value {
            Value::Scalar(s, _) => vec!["CMD-SHELL".into(), s.clone()],
            _ => list(t, &join(path, "test"))?,
        };
        if let Some(first) = h.test.first()
            && !matches!(first.as_str(), "CMD" | "CMD-SHELL" | "NONE")
        {
            return Err(t.error(&join(path, "test"), "a list test starts with CMD, CMD-SHELL or NONE"));
        }
    }
    h.interval = n.get("interval").map(|v| duration(v, &join(path, "interval"))).transpose()?;
    h.timeout = n.get("timeout").map(|v| duration(v, &join(path, "timeout"))).transpose()?;
    h.start_period = n.get("start_period").map(|v| duration(v, &join(path, "start_period"))).transpose()?;
    h.start_interval = n.get("start_interval").map(|v| duration(v, &join(path, "start_interval"))).transpose()?;
    h.retries = n.get("retries").map(|v| integer(v, &join(path, "retries")).map(|r| r.max(0) as u64)).transpose()?;
    h.disable = opt_bool(n.get("disable"), path)?.unwrap_or(false);
    Ok(h)
}

fn logging(n: &Node, path: &str) -> R<Logging> {
    check_keys(n, path, &["driver", "options"])?;
    Ok(Logging {
        driver: opt_string(n.get("driver"), &join(path, "driver"))?,
        options: n.get("options").map(|o| string_dict(o, &join(path, "options"))).transpose()?.unwrap_or_default(),
    })
}

fn service_networks(n: &Node, path: &str) -> R<BTreeMap<String, Option<ServiceNetwork>>> {
    let mut out = BTreeMap::new();
    match &n.value {
        Value::Map(entries) => {
            for (k, v) in entries {
                let kp = join(path, &k.name);
                let net = if v.is_null() {
                    None
                } else {
                    check_keys(
                        v,
                        &kp,
                        &[
                            "aliases",
                            "ipv4_address",
                            "ipv6_address",
                            "priority",
                            "gw_priority",
                            "mac_address",
                            "driver_opts",
                            "link_local_ips",
                            "interface_name",
                        ],
                    )?;
                    Some(ServiceNetwork {
                        aliases: v
                            .get("aliases")
                            .map(|a| list(a, &join(&kp, "aliases")))
                            .transpose()?
                            .unwrap_or_default(),
                        ipv4_address: opt_string(v.get("ipv4_address"), &kp)?,
                        ipv6_address: opt_string(v.get("ipv6_address"), &kp)?,
                    })
                };
                out.insert(k.name.clone(), net);
            }
        }
        Value::Null => {}
        _ => return Err(n.error(path, format!("must be a list or a mapping, not {}", n.kind()))),
    }
    Ok(out)
}

fn ports(n: &Node, path: &str) -> R<Vec<Port>> {
    let Value::Seq(items) = &n.value else {
        return Err(n.error(path, format!("must be a list, not {}", n.kind())));
    };
    let mut out = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let ip = format!("{path}[{i}]");
        match &item.value {
            Value::Scalar(text, _) => {
                out.extend(short_port(text).ok_or_else(|| item.error(&ip, format!("not a port mapping: {text:?}")))?)
            }
            Value::Map(_) => {
                check_keys(item, &ip, &["target", "published", "host_ip", "protocol", "mode", "app_protocol", "name"])?;
                let target = item.get("target").ok_or_else(|| item.error(&ip, "a port needs a target"))?;
                let target_port = integer(target, &join(&ip, "target"))?;
                out.push(Port {
                    mode: opt_string(item.get("mode"), &ip)?.unwrap_or_else(|| "ingress".into()),
                    host_ip: opt_string(item.get("host_ip"), &ip)?,
                    target: u16::try_from(target_port)
                        .map_err(|_| target.error(&join(&ip, "target"), "not a port number"))?,
                    published: opt_string(item.get("published"), &ip)?,
                    protocol: opt_string(item.get("protocol"), &ip)?.unwrap_or_else(|| "tcp".into()),
                });
            }
            _ => return Err(item.error(&ip, format!("must be a string or a mapping, not {}", item.kind()))),
        }
    }
    Ok(out)
}

/// `[ip:][host[-range]:]container[-range][/proto]`.
fn short_port(text: &str) -> Option<Vec<Port>> {
    let (spec, protocol) = match text.rsplit_once('/') {
        Some((s, p)) => (s, p.to_owned()),
        None => (text, "tcp".to_owned()),
    };
    let (host_ip, rest) = if let Some(stripped) = spec.strip_prefix('[') {
        let (ip, rest) = stripped.split_once("]:")?;
        (Some(ip.to_owned()), rest)
    } else {
        let parts: Vec<&str> = spec.split(':').collect();
        match parts.len() {
            3 => (Some(parts[0].to_owned()), &spec[parts[0].len() + 1..]),
            _ => (None, spec),
        }
    };
    let (published, target) = match rest.rsplit_once(':') {
        Some((p, t)) => (Some(p), t),
        None => (None, rest),
    };
    let range = |r: &str| -> Option<(u16, u16)> {
        match r.split_once('-') {
            Some((a, b)) => Some((a.parse().ok()?, b.parse().ok()?)),
            None => {
                let p = r.parse().ok()?;
                Some((p, p))
            }
        }
    };
    let (t0, t1) = range(target)?;
    let published_range = match published.filter(|p| !p.is_empty()) {
        Some(p) => Some(range(p)?),
        None => None,
    };
    let host_ip = host_ip.filter(|ip| !ip.is_empty());
    let mut out = Vec::new();
    for (i, t) in (t0..=t1).enumerate() {
        let published = match published_range {
            Some((p0, p1)) if p1 - p0 == t1 - t0 => Some((p0 + i as u16).to_string()),
            Some((p0, p1)) => Some(format!("{p0}-{p1}")),
            None => None,
        };
        out.push(Port {
            mode: "ingress".into(),
            host_ip: host_ip.clone(),
            target: t,
            published,
            protocol: protocol.clone(),
        });
    }
    Some(out)
}

fn ulimits(n: &Node, path: &str) -> R<BTreeMap<String, Ulimit>> {
    let mut out = BTreeMap::new();
    for (k, v) in n.entries() {
        let kp = join(path, &k.name);
        let limit = match &v.value {
            Value::Scalar(..) => {
                let x = integer(v, &kp)?;
                Ulimit::Single(x)
            }
            _ => {
                check_keys(v, &kp, &["soft", "hard"])?;
                Ulimit::Pair {
                    soft: integer(v.get("soft").ok_or_else(|| v.error(&kp, "needs soft"))?, &kp)?,
                    hard: integer(v.get("hard").ok_or_else(|| v.error(&kp, "needs hard"))?, &kp)?,
                }
            }
        };
        out.insert(k.name.clone(), limit);
    }
    Ok(out)
}

fn volumes(n: &Node, path: &str, dir: &Path) -> R<Vec<ServiceVolume>> {
    let Value::Seq(items) = &n.value else {
        return Err(n.error(path, format!("must be a list, not {}", n.kind())));
    };
    let mut out = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let ip = format!("{path}[{i}]");
        let v = match &item.value {
            Value::Scalar(text, _) => {
                short_volume(text, dir).ok_or_else(|| item.error(&ip, format!("not a volume: {text:?}")))?
            }
            Value::Map(_) => {
                check_keys(
                    item,
                    &ip,
                    &["type", "source", "target", "read_only", "bind", "volume", "tmpfs", "consistency"],
                )?;
                let kind = string(item.get("type").ok_or_else(|| item.error(&ip, "a volume needs a type"))?, &ip)?;
                if !matches!(kind.as_str(), "bind" | "volume" | "tmpfs") {
                    return Err(item.error(&join(&ip, "type"), format!("volume type {kind:?} is not supported")));
                }
                let source = opt_string(item.get("source"), &ip)?;
                let mut v = ServiceVolume {
                    source: if kind == "bind" { source.map(|s| absolute(dir, &s)) } else { source },
                    target: string(item.get("target").ok_or_else(|| item.error(&ip, "a volume needs a target"))?, &ip)?,
                    read_only: opt_bool(item.get("read_only"), &ip)?.unwrap_or(false),
                    kind,
                    ..ServiceVolume::default()
                };
                if let Some(b) = item.get("bind") {
                    let bp = join(&ip, "bind");
                    check_keys(b, &bp, &["propagation", "create_host_path", "selinux"])?;
                    v.bind = Some(BindOptions {
                        propagation: opt_string(b.get("propagation"), &bp)?,
                        create_host_path: opt_bool(b.get("create_host_path"), &bp)?.unwrap_or(false),
                        selinux: opt_string(b.get("selinux"), &bp)?,
                    });
                }
                if let Some(o) = item.get("volume") {
                    let op = join(&ip, "volume");
                    check_keys(o, &op, &["nocopy", "subpath"])?;
                    v.volume = Some(VolumeOptions {
                        nocopy: opt_bool(o.get("nocopy"), &op)?.unwrap_or(false),
                        subpath: opt_string(o.get("subpath"), &op)?,
                    });
                }
                if let Some(t) = item.get("tmpfs") {
                    let tp = join(&ip, "tmpfs");
                    check_keys(t, &tp, &["size", "mode"])?;
                    v.tmpfs = Some(TmpfsOptions {
                        size: t.get("size").map(|s| bytes(s, &tp)).transpose()?,
                        mode: t.get("mode").map(|m| integer(m, &tp).map(|m| m as u32)).transpose()?,
                    });
                }
                v
            }
            _ => return Err(item.error(&ip, format!("must be a string or a mapping, not {}", item.kind()))),
        };
        out.push(v);
    }
    Ok(out)
}

fn short_volume(text: &str, dir: &Path) -> Option<ServiceVolume> {
    let parts: Vec<&str> = text.split(':').collect();
    let (source, target, mode) = match parts.as_slice() {
        [t] => (None, *t, None),
        [s, t] => (Some(*s), *t, None),
        [s, t, m] => (Some(*s), *t, Some(*m)),
        _ => return None,
    };
    if target.is_empty() {
        return None;
    }
    let read_only = mode.is_some_and(|m| m.split(',').any(|o| o == "ro"));
    let selinux = mode.and_then(|m| m.split(',').find(|o| *o == "z" || *o == "Z")).map(str::to_owned);
    Some(match source {
        None => ServiceVolume {
            kind: "volume".into(),
            target: target.into(),
            volume: Some(VolumeOptions::default()),
            ..ServiceVolume::default()
        },
        Some(s) if s.starts_with('.') || s.starts_with('/') || s.starts_with('~') => ServiceVolume {
            kind: "bind".into(),
            source: Some(absolute(dir, s)),
            target: target.into(),
            read_only,
            bind: Some(BindOptions { create_host_path: true, selinux, ..BindOptions::default() }),
            ..ServiceVolume::default()
        },
        Some(s) => ServiceVolume {
            kind: "volume".into(),
            source: Some(s.into()),
            target: target.into(),
            read_only,
            volume: Some(VolumeOptions { nocopy: mode.is_some_and(|m| m.contains("nocopy")), subpath: None }),
            ..ServiceVolume::default()
        },
    })
}

pub fn network(key: &str, n: &Node, cx: &Context<'_>) -> R<Network> {
    let path = format!("networks.{key}");
    let mut net = Network { name: format!("{}_{key}", cx.project), ..Network::default() };
    if n.is_null() {
        return Ok(net);
    }
    check_keys(
        n,
        &path,
        &[
            "name",
            "driver",
            "driver_opts",
            "external",
            "internal",
            "labels",
            "attachable",
            "enable_ipv6",
            "enable_ipv4",
            "ipam",
        ],
    )?;
    net.driver = opt_string(n.get("driver"), &join(&path, "driver"))?;
    net.driver_opts = n.get("driver_opts").map(|o| string_dict(o, &path)).transpose()?.unwrap_or_default();
    net.external = opt_bool(n.get("external"), &join(&path, "external"))?.unwrap_or(false);
    net.internal = opt_bool(n.get("internal"), &join(&path, "internal"))?.unwrap_or(false);
    net.labels = n.get("labels").map(|o| string_dict(o, &path)).transpose()?.unwrap_or_default();
    if let Some(ipam) = n.get("ipam") {
        net.ipam = self::ipam(ipam, &join(&path, "ipam"))?;
    }
    match opt_string(n.get("name"), &join(&path, "name"))? {
        Some(name) => net.name = name,
        None if net.external => net.name = key.to_owned(),
        None => {}
    }
    Ok(net)
}

fn ipam(n: &Node, path: &str) -> R<Ipam> {
    check_keys(n, path, &["driver", "config", "options"])?;
    let mut ipam = Ipam { driver: opt_string(n.get("driver"), &join(path, "driver"))?, config: Vec::new() };
    if let Some(config) = n.get("config") {
        let cp = join(path, "config");
        let Value::Seq(items) = &config.value else {
            return Err(config.error(&cp, format!("must be a list, not {}", config.kind())));
        };
        for item in items {
            check_keys(item, &cp, &["subnet", "gateway", "ip_range", "aux_addresses"])?;
            ipam.config.push(IpamPool {
                subnet: opt_string(item.get("subnet"), &join(&cp, "subnet"))?,
                gateway: opt_string(item.get("gateway"), &join(&cp, "gateway"))?,
                ip_range: opt_string(item.get("ip_range"), &join(&cp, "ip_range"))?,
            });
        }
    }
    Ok(ipam)
}

pub fn volume(key: &str, n: &Node, cx: &Context<'_>) -> R<Volume> {
    let path = format!("volumes.{key}");
    let mut vol = Volume { name: format!("{}_{key}", cx.project), ..Volume::default() };
    if n.is_null() {
        return Ok(vol);
    }
    check_keys(n, &path, &["name", "driver", "driver_opts", "external", "labels"])?;
    vol.driver = opt_string(n.get("driver"), &join(&path, "driver"))?;
    vol.driver_opts = n.get("driver_opts").map(|o| string_dict(o, &path)).transpose()?.unwrap_or_default();
    vol.external = opt_bool(n.get("external"), &join(&path, "external"))?.unwrap_or(false);
    vol.labels = n.get("labels").map(|o| string_dict(o, &path)).transpose()?.unwrap_or_default();
    match opt_string(n.get("name"), &join(&path, "name"))? {
        Some(name) => vol.name = name,
        None if vol.external => vol.name = key.to_owned(),
        None => {}
    }
    Ok(vol)
}

pub fn file_object(section: &str, key: &str, n: &Node, cx: &Context<'_>) -> R<FileObject> {
    let path = format!("{section}.{key}");
    check_keys(
        n,
        &path,
        &["name", "file", "environment", "content", "external", "labels", "driver", "driver_opts", "template_driver"],
    )?;
    let obj = FileObject {
        name: opt_string(n.get("name"), &path)?.unwrap_or_else(|| format!("{}_{key}", cx.project)),
        file: opt_string(n.get("file"), &join(&path, "file"))?.map(|f| absolute(cx.dir, &f)),
        environment: opt_string(n.get("environment"), &join(&path, "environment"))?,
        content: opt_string(n.get("content"), &join(&path, "content"))?,
        external: opt_bool(n.get("external"), &join(&path, "external"))?.unwrap_or(false),
    };
    let sources = [obj.file.is_some(), obj.environment.is_some(), obj.content.is_some(), obj.external]
        .iter()
        .filter(|b| **b)
        .count();
    if sources != 1 {
        return Err(n.error(&path, "needs exactly one of file, environment, content or external"));
    }
    if section == "secrets" && obj.content.is_some() {
        return Err(n.error(
            &join(&path, "content"),
            "content is for configs; a secret takes a file or an environment variable",
        ));
    }
    Ok(obj)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_print_as_go_does() {
        for (input, want) in [
            ("30s", "30s"),
            ("1m30s", "1m30s"),
            ("90s", "1m30s"),
            ("500ms", "500ms"),
            ("1h", "1h0m0s"),
            ("10", "10s"),
            ("1.5s", "1.5s"),
        ] {
            assert_eq!(format_duration(parse_duration(input).unwrap()), want, "{input}");
        }
        assert!(parse_duration("10x").is_none());
    }

    #[test]
    fn short_syntaxes() {
        let p = short_port("127.0.0.1:8080:80/udp").unwrap();
        assert_eq!(
            p[0],
            Port {
                mode: "ingress".into(),
                host_ip: Some("127.0.0.1".into()),
                target: 80,
                published: Some("8080".into()),
                protocol: "udp".into()
            }
        );
        assert_eq!(short_port("3000-3001:4000-4001").unwrap().len(), 2);
        assert_eq!(short_port("80").unwrap()[0].published, None);
        let v = short_volume("./data:/data:ro", Path::new("/p")).unwrap();
        assert_eq!((v.kind.as_str(), v.source.as_deref(), v.read_only), ("bind", Some("/p/data"), true));
        let v = short_volume("db:/var/lib/db", Path::new("/p")).unwrap();
        assert_eq!((v.kind.as_str(), v.source.as_deref()), ("volume", Some("db")));
        assert_eq!(shell_split("sh -c 'echo hi; sleep 1' \"a b\"").unwrap(), ["sh", "-c", "echo hi; sleep 1", "a b"]);
        assert_eq!(parse_bytes("64m"), Some(64 << 20));
        assert_eq!(parse_bytes("1.5g"), Some(3 << 29));
    }
}
