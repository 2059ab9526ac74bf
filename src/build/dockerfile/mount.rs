//! `RUN --mount=type=cache|bind|tmpfs|secret|ssh,key=value,…`, with the rules of BuildKit's
//! `commands_runmount.go` and the defaults its dispatcher fills in. The value is CSV (a field may
//! be quoted); option values may use variables, so a mount is typed after expansion; at parse time
//! only `from=` (which may not use variables) is read, and a mount without any `$` is checked in
//! full so its errors carry the Dockerfile line.

use serde::Serialize;

use super::suggest;
use super::values::{parse_bool, parse_ram_size};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum MountType {
    Bind,
    Cache,
    Tmpfs,
    Secret,
    Ssh,
}

impl MountType {
    pub fn name(self) -> &'static str {
        match self {
            MountType::Bind => "bind",
            MountType::Cache => "cache",
            MountType::Tmpfs => "tmpfs",
            MountType::Secret => "secret",
            MountType::Ssh => "ssh",
        }
    }
}

/// How concurrent builds share a cache mount.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub enum Sharing {
    #[default]
    Shared,
    Private,
    Locked,
}

/// A `--mount` after expansion, with BuildKit's defaults applied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum MountSpec {
    /// A directory or file of the context (or of `from`, a stage or an image) at `target`;
    /// read-only unless `rw` (writes are then discarded after the step).
    Bind { target: String, source: String, from: Option<String>, read_write: bool },
    /// A persistent directory keyed by `id` (default: the target path), optionally seeded from
    /// `from`/`source`; created with `mode`, `uid`, `gid`. Its content is never part of a cache
    /// key.
    Cache {
        target: String,
        id: String,
        sharing: Sharing,
        from: Option<String>,
        source: String,
        read_only: bool,
        mode: u32,
        uid: u32,
        gid: u32,
    },
    /// An empty tmpfs; `size` in bytes.
    Tmpfs { target: String, size: Option<u64> },
    /// The secret `id` as a file at `target` (default `/run/secrets/<id>`) and/or in the
    /// environment variable `env`. Never part of a layer or a cache key.
    Secret { id: String, target: Option<String>, env: Option<String>, required: bool, mode: u32, uid: u32, gid: u32 },
    /// The SSH agent socket `id` (default `default`) at `target` (default chosen by the builder).
    Ssh { id: String, target: Option<String>, required: bool, mode: u32, uid: u32, gid: u32 },
}

impl MountSpec {
    pub fn kind(&self) -> MountType {
        match self {
            MountSpec::Bind { .. } => MountType::Bind,
            MountSpec::Cache { .. } => MountType::Cache,
            MountSpec::Tmpfs { .. } => MountType::Tmpfs,
            MountSpec::Secret { .. } => MountType::Secret,
            MountSpec::Ssh { .. } => MountType::Ssh,
        }
    }

    /// Where the mount appears in the container, when it has a path.
    pub fn target(&self) -> Option<&str> {
        match self {
            MountSpec::Bind { target, .. } | MountSpec::Cache { target, .. } | MountSpec::Tmpfs { target, .. } => {
                Some(target)
            }
            MountSpec::Secret { target, .. } | MountSpec::Ssh { target, .. } => target.as_deref(),
        }
    }

    /// The stage or image the mount reads from (`from=`), if any.
    pub fn from(&self) -> Option<&str> {
        match self {
            MountSpec::Bind { from, .. } | MountSpec::Cache { from, .. } => from.as_deref(),
            _ => None,
        }
    }
}

/// Splits one CSV record (Go's encoding/csv rules: `"…"` quotes a field, `""` inside is a quote).
fn csv_fields(text: &str) -> Result<Vec<String>, String> {
    let mut fields = Vec::new();
    let mut chars = text.chars().peekable();
    loop {
        let mut field = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            loop {
                match chars.next() {
                    None => {
                        return Err(format!(
                            "failed to parse csv mounts: extraneous or missing \" in quoted-field: {text}"
                        ));
                    }
                    Some('"') if chars.peek() == Some(&'"') => {
                        chars.next();
                        field.push('"');
                    }
                    Some('"') => break,
                    Some(c) => field.push(c),
                }
            }
            match chars.next() {
                None => {
                    fields.push(field);
                    return Ok(fields);
                }
                Some(',') => {}
                Some(_) => {
                    return Err(format!(
                        "failed to parse csv mounts: extraneous or missing \" in quoted-field: {text}"
                    ));
                }
            }
        } else {
            loop {
                match chars.next() {
                    None => {
                        fields.push(field);
                        return Ok(fields);
                    }
                    Some(',') => break,
                    Some('"') => {
                        return Err(format!("failed to parse csv mounts: bare \" in non-quoted-field: {text}"));
                    }
                    Some(c) => field.push(c),
                }
            }
        }
        fields.push(field);
    }
}

const KEYS: &[&str] = &[
    "type",
    "from",
    "source",
    "target",
    "readonly",
    "id",
    "sharing",
    "required",
    "size",
    "mode",
    "uid",
    "gid",
    "src",
    "dst",
    "destination",
    "ro",
    "rw",
    "readwrite",
    "env",
];

/// The mount's `from=` value, read at parse time (BuildKit refuses variables in it: name a stage
/// instead). Also checks the CSV syntax.
pub(super) fn mount_from(text: &str) -> Result<Option<String>, String> {
    let mut from = None;
    for field in csv_fields(text)? {
        if let Some((key, value)) = field.split_once('=')
            && key.eq_ignore_ascii_case("from")
        {
            if value.find('$').is_some_and(|at| at != value.len() - 1) {
                return Err("'from' doesn't support variable expansion, define alias stage instead".into());
            }
            from = Some(value.to_owned());
        }
    }
    Ok(from)
}

/// Types a mount. `expand` is applied to every option value; `workdir` resolves a relative target.
pub fn parse_mount(
    text: &str,
    expand: &mut dyn FnMut(&str) -> Result<String, String>,
    workdir: &str,
) -> Result<MountSpec, String> {
    let mut kind = MountType::Bind;
    let (mut from, mut source, mut target, mut id, mut env) = (None, None, None, None, None);
    let (mut read_only, mut read_only_given, mut required) = (false, false, false);
    let (mut size, mut sharing, mut mode, mut uid, mut gid) = (None, None, None, None, None);
    for field in csv_fields(text)? {
        let Some((key, value)) = field.split_once('=') else {
            match field.to_ascii_lowercase().as_str() {
                "readonly" | "ro" => (read_only, read_only_given) = (true, true),
                "readwrite" | "rw" => (read_only, read_only_given) = (false, true),
                "required" if matches!(kind, MountType::Secret | MountType::Ssh) => required = true,
                "required" => return Err(format!("unexpected key 'required' for mount type '{}'", kind.name())),
                _ => return Err(format!("invalid field '{field}' must be a key=value pair")),
            }
            continue;
        };
        let key = key.to_ascii_lowercase();
        let value = expand(value)?;
        let boolean = |v: &str| parse_bool(v).ok_or_else(|| format!("invalid value for {key}: {v}"));
        match key.as_str() {
            "type" => {
                kind = match value.to_ascii_lowercase().as_str() {
                    "bind" => MountType::Bind,
                    "cache" => MountType::Cache,
                    "tmpfs" => MountType::Tmpfs,
                    "secret" => MountType::Secret,
                    "ssh" => MountType::Ssh,
                    _ => {
                        let hint = suggest(&value, &["bind", "cache", "tmpfs", "secret", "ssh"], "");
                        return Err(format!("unsupported mount type {value:?}{hint}"));
                    }
                }
            }
            "from" => from = Some(value),
            "source" | "src" => source = Some(value),
            "target" | "dst" | "destination" => target = Some(value),
            "readonly" | "ro" => (read_only, read_only_given) = (boolean(&value)?, true),
            "readwrite" | "rw" => (read_only, read_only_given) = (!boolean(&value)?, true),
            "required" if matches!(kind, MountType::Secret | MountType::Ssh) => required = boolean(&value)?,
            "size" if kind == MountType::Tmpfs => {
                size = Some(parse_ram_size(&value).map_err(|_| format!("invalid value for size: {value}"))?)
            }
            "required" | "size" => return Err(format!("unexpected key '{key}' for mount type '{}'", kind.name())),
            "id" => id = Some(value),
            "sharing" => {
                sharing = Some(match value.to_ascii_lowercase().as_str() {
                    "shared" => Sharing::Shared,
                    "private" => Sharing::Private,
                    "locked" => Sharing::Locked,
                    _ => {
                        let hint = suggest(&value, &["shared", "private", "locked"], "");
                        return Err(format!("unsupported sharing value {value:?}{hint}"));
                    }
                })
            }
            "mode" => {
                mode = Some(u32::from_str_radix(&value, 8).map_err(|_| format!("invalid value {value} for mode"))?)
            }
            "uid" => uid = Some(value.parse::<u32>().map_err(|_| format!("invalid value {value} for uid"))?),
            "gid" => gid = Some(value.parse::<u32>().map_err(|_| format!("invalid value {value} for gid"))?),
            "env" => env = Some(value),
            _ => return Err(format!("unexpected key '{key}' in '{field}'{}", suggest(&key, KEYS, ""))),
        }
    }
    if !matches!(kind, MountType::Secret | MountType::Ssh | MountType::Cache) {
        for (name, given) in [("mode", mode.is_some()), ("uid", uid.is_some()), ("gid", gid.is_some())] {
            if given {
                return Err(format!("{name} not allowed for {:?} type mounts", kind.name()));
            }
        }
    }
    if sharing.is_some() && kind != MountType::Cache {
        return Err(format!("invalid cache sharing set for {} mount", kind.name()));
    }
    let absolute = |target: Option<String>| -> Result<String, String> {
        let Some(target) = target.filter(|t| !t.is_empty()) else {
            return Err(format!("mount type {} requires a target", kind.name()));
        };
        let joined = crate::build::paths::join_clean(workdir, &target);
        if joined == "/" {
            return Err(format!("invalid mount target {joined:?}"));
        }
        Ok(joined)
    };
    let optional_target = |target: Option<String>| target.map(|t| crate::build::paths::join_clean(workdir, &t));
    Ok(match kind {
        MountType::Bind => MountSpec::Bind {
            target: absolute(target)?,
            source: crate::build::paths::join_clean("/", source.as_deref().unwrap_or("")),
            from,
            read_write: read_only_given && !read_only,
        },
        MountType::Cache => {
            let target = absolute(target)?;
            MountSpec::Cache {
                id: id.filter(|i| !i.is_empty()).unwrap_or_else(|| target.clone()),
                target,
                sharing: sharing.unwrap_or_default(),
                from,
                source: crate::build::paths::join_clean("/", source.as_deref().unwrap_or("")),
                read_only: read_only_given && read_only,
                mode: mode.unwrap_or(0o755),
                uid: uid.unwrap_or(0),
                gid: gid.unwrap_or(0),
            }
        }
        MountType::Tmpfs => MountSpec::Tmpfs { target: absolute(target)?, size },
        MountType::Secret => {
            if from.is_some() {
                return Err("secret mount should not have a from".into());
            }
            if source.is_some() && id.is_some() {
                return Err("both source and id can't be set".into());
            }
            let id = match source.or(id).filter(|s| !s.is_empty()) {
                Some(id) => id,
                None => match target.as_deref().filter(|t| !t.is_empty()) {
                    Some(t) => t.rsplit('/').find(|c| !c.is_empty()).unwrap_or("").to_owned(),
                    None => return Err("invalid secret mount. one of source, target required".into()),
                },
            };
            let target = match optional_target(target) {
                Some(target) => Some(target),
                None if env.is_none() => Some(format!("/run/secrets/{}", id.rsplit('/').next().unwrap_or(&id))),
                None => None,
            };
            MountSpec::Secret {
                id,
                target,
                env,
                required,
                mode: mode.unwrap_or(0o400),
                uid: uid.unwrap_or(0),
                gid: gid.unwrap_or(0),
            }
        }
        MountType::Ssh => {
            if source.is_some() {
                return Err("ssh does not support source".into());
            }
            MountSpec::Ssh {
                id: id.filter(|i| !i.is_empty()).unwrap_or_else(|| "default".into()),
                target: optional_target(target),
                required,
                mode: mode.unwrap_or(0o600),
                uid: uid.unwrap_or(0),
                gid: gid.unwrap_or(0),
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<MountSpec, String> {
        parse_mount(text, &mut |v| Ok(v.to_owned()), "/work")
    }

    #[test]
    fn every_type_with_defaults() {
        assert_eq!(
            parse("type=cache,target=/root/.cache,sharing=locked,id=pip").unwrap(),
            MountSpec::Cache {
                target: "/root/.cache".into(),
                id: "pip".into(),
                sharing: Sharing::Locked,
                from: None,
                source: "/".into(),
                read_only: false,
                mode: 0o755,
                uid: 0,
                gid: 0,
            }
        );
        assert!(
            matches!(parse("type=cache,target=cache/").unwrap(), MountSpec::Cache { ref id, ref target, .. } if id == "/work/cache" && target == "/work/cache")
        );
        assert_eq!(
            parse("target=/src,source=app,from=builder").unwrap(),
            MountSpec::Bind {
                target: "/src".into(),
                source: "/app".into(),
                from: Some("builder".into()),
                read_write: false
            }
        );
        assert!(matches!(parse("type=bind,dst=/x,rw").unwrap(), MountSpec::Bind { read_write: true, .. }));
        assert_eq!(
            parse("type=tmpfs,target=/tmp,size=64m").unwrap(),
            MountSpec::Tmpfs { target: "/tmp".into(), size: Some(64 << 20) }
        );
        assert_eq!(
            parse("type=secret,id=aws,required").unwrap(),
            MountSpec::Secret {
                id: "aws".into(),
                target: Some("/run/secrets/aws".into()),
                env: None,
                required: true,
                mode: 0o400,
                uid: 0,
                gid: 0
            }
        );
        assert!(matches!(parse("type=secret,target=/etc/token,mode=0440,uid=1000").unwrap(),
            MountSpec::Secret { ref id, mode: 0o440, uid: 1000, .. } if id == "token"));
        assert!(matches!(
            parse("type=secret,id=tok,env=TOKEN").unwrap(),
            MountSpec::Secret { target: None, env: Some(_), .. }
        ));
        assert_eq!(
            parse("type=ssh").unwrap(),
            MountSpec::Ssh { id: "default".into(), target: None, required: false, mode: 0o600, uid: 0, gid: 0 }
        );
        assert!(matches!(parse("type=cache,target=/c,ro=true").unwrap(), MountSpec::Cache { read_only: true, .. }));
    }

    #[test]
    fn quoted_csv_fields() {
        assert!(
            matches!(parse(r#""target=/a,b",type=tmpfs"#).unwrap(), MountSpec::Tmpfs { ref target, .. } if target == "/a,b")
        );
        assert!(parse(r#"target=/a"b"#).unwrap_err().contains("bare \""));
        assert!(parse(r#""target=/a"x"#).unwrap_err().contains("extraneous"));
    }

    #[test]
    fn errors_name_the_problem() {
        let err = |text: &str| parse(text).unwrap_err();
        assert_eq!(err("type=cahce,target=/x"), "unsupported mount type \"cahce\" (did you mean cache?)");
        assert_eq!(err("type=bind,target=/x,mode=0755"), "mode not allowed for \"bind\" type mounts");
        assert_eq!(err("type=tmpfs,target=/x,sharing=locked"), "invalid cache sharing set for tmpfs mount");
        assert_eq!(err("type=cache,target=/x,sharing=all"), "unsupported sharing value \"all\"");
        assert_eq!(err("type=bind,target=/x,required"), "unexpected key 'required' for mount type 'bind'");
        assert_eq!(err("type=bind,target=/x,size=1"), "unexpected key 'size' for mount type 'bind'");
        assert_eq!(err("type=bind,target=/x,trget=/y"), "unexpected key 'trget' in 'trget=/y' (did you mean target?)");
        assert_eq!(err("type=bind,target=/x,bogus"), "invalid field 'bogus' must be a key=value pair");
        assert_eq!(err("type=cache,target=/x,mode=9"), "invalid value 9 for mode");
        assert_eq!(err("type=cache,target=/x,uid=-1"), "invalid value -1 for uid");
        assert_eq!(err("type=bind,target=/x,ro=maybe"), "invalid value for ro: maybe");
        assert_eq!(err("type=secret"), "invalid secret mount. one of source, target required");
        assert_eq!(err("type=secret,id=a,source=b"), "both source and id can't be set");
        assert_eq!(err("type=secret,id=a,from=x"), "secret mount should not have a from");
        assert_eq!(err("type=ssh,source=x"), "ssh does not support source");
        assert_eq!(err("type=cache"), "mount type cache requires a target");
        assert_eq!(
            parse_mount("type=bind,target=.", &mut |v| Ok(v.into()), "/").unwrap_err(),
            "invalid mount target \"/\""
        );
    }

    #[test]
    fn from_is_read_at_parse_time_without_variables() {
        assert_eq!(mount_from("type=bind,from=builder,target=/x").unwrap().as_deref(), Some("builder"));
        assert_eq!(mount_from("type=cache,target=$X").unwrap(), None);
        assert!(mount_from("from=$STAGE").is_err());
    }

    #[test]
    fn values_are_expanded_before_they_are_typed() {
        let mut expand = |v: &str| Ok(v.replace("$UID", "1000"));
        let spec = parse_mount("type=cache,target=/c,uid=$UID", &mut expand, "/").unwrap();
        assert!(matches!(spec, MountSpec::Cache { uid: 1000, .. }));
    }
}
