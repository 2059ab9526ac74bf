//! The loader: which files, which environment, which project name; then per file parse,
//! include, interpolate, and merge; extends; profiles; and the typed model, checked.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use super::convert::{self, Context};
use super::dotenv;
use super::error::ComposeError;
use super::interpolate::{Lookup, interpolate_tree};
use super::merge::{get_mut, merge, normalise_service};
use super::model::{Network, Project};
use super::yaml::{self, Node, Value};

type R<T> = Result<T, ComposeError>;

pub const FILE_NAMES: &[&str] = &["compose.yaml", "compose.yml", "docker-compose.yml", "docker-compose.yaml"];
const OVERRIDE_NAMES: &[&str] =
    &["compose.override.yaml", "compose.override.yml", "docker-compose.override.yml", "docker-compose.override.yaml"];
const TOP_KEYS: &[&str] = &["version", "name", "services", "networks", "volumes", "secrets", "configs", "include"];

#[derive(Debug, Default, Clone)]
pub struct LoadOptions {
    /// `-f`, in order; empty: COMPOSE_FILE, else found from `cwd` upwards.
    pub files: Vec<PathBuf>,
    pub project_directory: Option<PathBuf>,
    pub project_name: Option<String>,
    pub env_files: Vec<PathBuf>,
    pub profiles: Vec<String>,
    /// Services named on the command line: their profiles are enabled.
    pub services: Vec<String>,
    pub cwd: PathBuf,
    /// The process environment (passed in so tests choose it).
    pub environ: HashMap<String, String>,
}

/// Variables, recording the ones used with no value (compose warns about them).
struct Env {
    vars: HashMap<String, String>,
    missing: RefCell<BTreeSet<String>>,
}

impl Lookup for Env {
    fn get(&self, name: &str) -> Option<String> {
        self.vars.get(name).cloned()
    }
    fn missing(&self, name: &str) {
        self.missing.borrow_mut().insert(name.to_owned());
    }
}

/// Docker Compose's NormalizeProjectName.
pub fn normalise_name(name: &str) -> String {
    let lower: String = name
        .to_lowercase()
        .chars()
        .filter(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_' || *c == '-')
        .collect();
    lower.trim_start_matches(['_', '-']).to_owned()
}

fn read(path: &Path) -> R<String> {
    std::fs::read_to_string(path).map_err(|source| ComposeError::Read { path: path.to_owned(), source })
}

fn find_files(opts: &LoadOptions) -> R<Vec<PathBuf>> {
    if !opts.files.is_empty() {
        return Ok(opts.files.iter().map(|f| if f.is_absolute() { f.clone() } else { opts.cwd.join(f) }).collect());
    }
    if let Some(list) = opts.environ.get("COMPOSE_FILE").filter(|l| !l.is_empty()) {
        let sep = opts.environ.get("COMPOSE_PATH_SEPARATOR").map(String::as_str).unwrap_or(":");
        return Ok(list.split(sep).map(|f| opts.cwd.join(f)).collect());
    }
    let start = opts.project_directory.as_ref().map(|d| opts.cwd.join(d)).unwrap_or_else(|| opts.cwd.clone());
    let mut dir = Some(start.as_path());
    while let Some(d) = dir {
        if let Some(found) = FILE_NAMES.iter().map(|n| d.join(n)).find(|p| p.is_file()) {
            let mut files = vec![found];
            files.extend(OVERRIDE_NAMES.iter().map(|n| d.join(n)).find(|p| p.is_file()));
            return Ok(files);
        }
        dir = d.parent();
    }
    Err(ComposeError::NoFile)
}

pub fn load(opts: &LoadOptions) -> R<Project> {
    let files = find_files(opts)?;
    let working_dir = match &opts.project_directory {
        Some(d) => clean_path(&opts.cwd.join(d)),
        None => clean_path(files[0].parent().unwrap_or(Path::new("/"))),
    };
    let mut vars = opts.environ.clone();
    let env_files = if opts.env_files.is_empty() {
        let default = working_dir.join(".env");
        if opts.environ.contains_key("COMPOSE_DISABLE_ENV_FILE") || !default.is_file() {
            Vec::new()
        } else {
            vec![default]
        }
    } else {
        opts.env_files.iter().map(|f| opts.cwd.join(f)).collect()
    };
    for file in &env_files {
        let text = read(file)?;
        for (k, v) in dotenv::parse(&text, file, &opts.environ)? {
            // The shell's environment wins over the files'.
            if !opts.environ.contains_key(&k) {
                vars.insert(k, v);
            }
        }
    }
    let project = project_name(opts, &files, &vars, &working_dir)?;
    vars.insert("COMPOSE_PROJECT_NAME".into(), project.clone());
    let env = Env { vars, missing: RefCell::new(BTreeSet::new()) };
    let mut tree: Option<Node> = None;
    for file in &files {
        let node = load_file(file, &env, &working_dir, &mut Vec::new())?;
        match tree.as_mut() {
            None => tree = Some(node),
            Some(base) => merge(base, node, ""),
        }
    }
    let mut tree = tree.expect("at least one file");
    resolve_extends(&mut tree, &env, &working_dir)?;
    for name in env.missing.borrow().iter() {
        eprintln!("berth: warning: the {name:?} variable is not set; defaulting to a blank string");
    }
    let cx = Context { project: &project, dir: &working_dir, env: &env.vars };

    for (key, value) in tree.entries() {
        if !key.name.starts_with("x-") && !TOP_KEYS.contains(&key.name.as_str()) {
            return Err(ComposeError::At {
                file: value.file.to_path_buf(),
                line: key.line,
                key: key.name.clone(),
                message: "unknown key (additional properties are not allowed)".into(),
            });
        }
    }
    let section = |name: &str| -> R<Vec<(String, Node)>> {
        match tree.get(name) {
            None => Ok(Vec::new()),
            Some(n) if n.is_null() => Ok(Vec::new()),
            Some(n @ Node { value: Value::Map(entries), .. }) => {
                let _ = n;
                Ok(entries
                    .iter()
                    .filter(|(k, _)| !k.name.starts_with("x-"))
                    .map(|(k, v)| (k.name.clone(), v.clone()))
                    .collect())
            }
            Some(n) => Err(n.error(name, format!("must be a mapping, not {}", n.kind()))),
        }
    };
    let mut model = Project {
        name: project.clone(),
        working_dir: working_dir.clone(),
        config_files: files.clone(),
        ..Project::default()
    };

    let mut profiles: BTreeSet<String> = opts.profiles.iter().cloned().collect();
    if let Some(list) = env.vars.get("COMPOSE_PROFILES") {
        profiles.extend(list.split(',').map(str::trim).filter(|p| !p.is_empty()).map(str::to_owned));
    }
    let service_nodes = section("services")?;
    for wanted in &opts.services {
        if !service_nodes.iter().any(|(n, _)| n == wanted) {
            return Err(ComposeError::NoSuchService(wanted.clone()));
        }
    }
    let mut nodes: BTreeMap<String, Node> = BTreeMap::new();
    for (name, node) in service_nodes {
        let service = convert::service(&name, &node, &cx)?;
        let enabled = service.profiles.is_empty()
            || profiles.contains("*")
            || service.profiles.iter().any(|p| profiles.contains(p))
            || opts.services.contains(&name);
        if enabled {
            model.services.insert(name.clone(), service);
            nodes.insert(name, node);
        } else {
            model.disabled.push(name);
        }
    }
    for (name, node) in section("networks")? {
        model.networks.insert(name.clone(), convert::network(&name, &node, &cx)?);
    }
    for (name, node) in section("volumes")? {
        model.volumes.insert(name.clone(), convert::volume(&name, &node, &cx)?);
    }
    for (name, node) in section("secrets")? {
        model.secrets.insert(name.clone(), convert::file_object("secrets", &name, &node, &cx)?);
    }
    for (name, node) in section("configs")? {
        model.configs.insert(name.clone(), convert::file_object("configs", &name, &node, &cx)?);
    }
    for (key, value) in tree.entries() {
        if key.name.starts_with("x-") {
            model.extensions.insert(key.name.clone(), convert::to_json(value));
        }
    }
    check_references(&mut model, &nodes)?;
    Ok(model)
}

/// `-p` > COMPOSE_PROJECT_NAME (shell or .env) > the files' `name:` (the last that has one,
/// interpolated) > the project directory's name, normalised. A name given that is not already
/// normal is refused (compose-go's rule); so is one that normalises to nothing.
fn project_name(
    opts: &LoadOptions,
    files: &[PathBuf],
    vars: &HashMap<String, String>,
    working_dir: &Path,
) -> R<String> {
    if let Some(name) =
        opts.project_name.clone().or_else(|| vars.get("COMPOSE_PROJECT_NAME").cloned()).filter(|n| !n.is_empty())
    {
        if normalise_name(&name) != name {
            return Err(ComposeError::ProjectName(name));
        }
        return Ok(name);
    }
    let mut from_file = None;
    for file in files {
        let node = yaml::parse(&read(file)?, file)?;
        if let Some(n) = node.get("name").filter(|n| !n.is_null()) {
            let mut n = n.clone();
            interpolate_tree(&mut n, "name", vars)?;
            from_file = Some(n);
        }
    }
    if let Some(n) = from_file {
        let name = convert::string(&n, "name")?;
        if normalise_name(&name) != name || name.is_empty() {
            return Err(n.error("name", ComposeError::ProjectName(name.clone()).to_string()));
        }
        return Ok(name);
    }
    let base = working_dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let name = normalise_name(&base);
    if name.is_empty() {
        return Err(ComposeError::ProjectName(base));
    }
    Ok(name)
}

/// One file: parsed, its `include`s loaded, interpolated; services normalised for merging.
fn load_file(file: &Path, env: &Env, project_dir: &Path, stack: &mut Vec<PathBuf>) -> R<Node> {
    let text = read(file)?;
    let mut node = yaml::parse(&text, file)?;
    interpolate_tree(&mut node, "", env)?;
    if let Some(services) = get_mut(&mut node, "services")
        && let Value::Map(entries) = &mut services.value
    {
        for (_, service) in entries.iter_mut() {
            normalise_service(service);
        }
    }
    let include = match &mut node.value {
        Value::Map(entries) => {
            let at = entries.iter().position(|(k, _)| k.name == "include");
            at.map(|i| entries.remove(i).1)
        }
        _ => None,
    };
    if let Some(include) = include {
        let items = match include.value {
            Value::Seq(items) => items,
            Value::Null => Vec::new(),
            _ => return Err(include.error("include", format!("must be a list, not {}", include.kind()))),
        };
        let base = file.parent().unwrap_or(Path::new("/"));
        for item in items {
            let path = match &item.value {
                Value::Scalar(p, _) => p.clone(),
                Value::Map(_) => convert::string(
                    item.get("path").ok_or_else(|| item.error("include", "needs a path"))?,
                    "include.path",
                )?,
                _ => return Err(item.error("include", "an include is a path or a mapping with a path")),
            };
            let full = clean_path(&base.join(&path));
            if stack.contains(&full) || full == file {
                return Err(item.error("include", format!("{} includes itself", full.display())));
            }
            stack.push(full.clone());
            let mut included = load_file(&full, env, full.parent().unwrap_or(Path::new("/")), stack)?;
            stack.pop();
            absolutise_paths(&mut included, full.parent().unwrap_or(Path::new("/")));
            for section in ["services", "networks", "volumes", "secrets", "configs"] {
                let Some(Node { value: Value::Map(add), .. }) = included.get(section).cloned() else { continue };
                if !matches!(node.get(section).map(|n| &n.value), Some(Value::Map(_)))
                    && let Value::Map(entries) = &mut node.value
                {
                    entries.retain(|(k, _)| k.name != section);
                    entries.push((
                        yaml::Key { name: section.into(), line: item.line },
                        Node::new(Value::Map(Vec::new()), &item.file, item.line),
                    ));
                }
                let target = get_mut(&mut node, section).expect("just made");
                if let Value::Map(entries) = &mut target.value {
                    for (k, v) in add {
                        if entries.iter().any(|(e, _)| e.name == k.name) && section == "services" {
                            return Err(item.error(
                                "include",
                                format!("services.{} is defined both here and in {}", k.name, full.display()),
                            ));
                        }
                        entries.retain(|(e, _)| e.name != k.name);
                        entries.push((k, v));
                    }
                }
            }
        }
    }
    let _ = project_dir;
    Ok(node)
}

/// Relative paths of a file loaded from another directory (include, extends with a file) are
/// made absolute against that directory before they join the project.
fn absolutise_paths(tree: &mut Node, dir: &Path) {
    let fix = |s: &mut String| {
        if !s.starts_with('/') && !s.starts_with('~') && !s.contains("://") {
            *s = clean_path(&dir.join(&*s)).to_string_lossy().into_owned();
        }
    };
    if let Some(services) = get_mut(tree, "services")
        && let Value::Map(entries) = &mut services.value
    {
        for (_, svc) in entries.iter_mut() {
            absolutise_service(svc, &fix);
        }
    }
    for section in ["secrets", "configs"] {
        if let Some(sec) = get_mut(tree, section)
            && let Value::Map(entries) = &mut sec.value
        {
            for (_, obj) in entries.iter_mut() {
                if let Some(Node { value: Value::Scalar(s, _), .. }) = get_mut(obj, "file") {
                    fix(s);
                }
            }
        }
    }
}

fn absolutise_service(svc: &mut Node, fix: &dyn Fn(&mut String)) {
    if let Some(b) = get_mut(svc, "build") {
        match &mut b.value {
            Value::Scalar(s, _) => fix(s),
            Value::Map(_) => {
                if let Some(Node { value: Value::Scalar(s, _), .. }) = get_mut(b, "context") {
                    fix(s);
                }
            }
            _ => {}
        }
    }
    if let Some(Node { value: Value::Seq(items), .. }) = get_mut(svc, "volumes") {
        for item in items.iter_mut() {
            let is_bind = item.get("type").is_some_and(|t| matches!(&t.value, Value::Scalar(k, _) if k == "bind"));
            match &mut item.value {
                Value::Scalar(s, _) if s.starts_with('.') => {
                    let (src, rest) = s
                        .split_once(':')
                        .map(|(a, b)| (a.to_owned(), format!(":{b}")))
                        .unwrap_or((s.clone(), String::new()));
                    let mut src = src;
                    fix(&mut src);
                    *s = format!("{src}{rest}");
                }
                Value::Map(_) if is_bind => {
                    if let Some(Node { value: Value::Scalar(s, _), .. }) = get_mut(item, "source") {
                        fix(s);
                    }
                }
                _ => {}
            }
        }
    }
    if let Some(env_file) = get_mut(svc, "env_file") {
        match &mut env_file.value {
            Value::Scalar(s, _) => fix(s),
            Value::Seq(items) => {
                for item in items.iter_mut() {
                    match &mut item.value {
                        Value::Scalar(s, _) => fix(s),
                        Value::Map(_) => {
                            if let Some(Node { value: Value::Scalar(s, _), .. }) = get_mut(item, "path") {
                                fix(s);
                            }
                        }
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
}

/// `extends: {service, file?}`: the base service merged under the extending one, recursively.
fn resolve_extends(tree: &mut Node, env: &Env, project_dir: &Path) -> R<()> {
    let names: Vec<String> =
        tree.get("services").map(|s| s.entries().iter().map(|(k, _)| k.name.clone()).collect()).unwrap_or_default();
    let snapshot = tree.clone();
    for name in names {
        let service = snapshot.get("services").and_then(|s| s.get(&name)).cloned().expect("listed");
        let resolved = extend_service(&name, service, &snapshot, env, project_dir, &mut Vec::new())?;
        let slot = get_mut(get_mut(tree, "services").expect("listed"), &name).expect("listed");
        *slot = resolved;
    }
    Ok(())
}

fn extend_service(
    name: &str,
    mut service: Node,
    tree: &Node,
    env: &Env,
    project_dir: &Path,
    seen: &mut Vec<String>,
) -> R<Node> {
    let Some(ext) = service.get("extends").cloned() else { return Ok(service) };
    let key = format!("services.{name}.extends");
    let (base_name, file) = match &ext.value {
        Value::Scalar(s, _) => (s.clone(), None),
        Value::Map(_) => (
            convert::string(ext.get("service").ok_or_else(|| ext.error(&key, "needs a service"))?, &key)?,
            ext.get("file").map(|f| convert::string(f, &key)).transpose()?,
        ),
        _ => return Err(ext.error(&key, format!("must be a string or a mapping, not {}", ext.kind()))),
    };
    let id = format!("{}:{base_name}", file.as_deref().unwrap_or(""));
    if seen.contains(&id) {
        return Err(ext.error(&key, format!("extends cycle through service {base_name:?}")));
    }
    seen.push(id);
    let (base_tree, base_dir) = match &file {
        Some(f) => {
            let dir = ext.file.parent().unwrap_or(Path::new("/"));
            let full = clean_path(&dir.join(f));
            let mut other = load_file(&full, env, project_dir, &mut Vec::new())?;
            let other_dir = full.parent().unwrap_or(Path::new("/")).to_owned();
            absolutise_paths(&mut other, &other_dir);
            (other, Some(other_dir))
        }
        None => (tree.clone(), None),
    };
    let base = base_tree
        .get("services")
        .and_then(|s| s.get(&base_name))
        .cloned()
        .ok_or_else(|| ext.error(&key, format!("extends an undefined service {base_name:?}")))?;
    let mut base = extend_service(&base_name, base, &base_tree, env, base_dir.as_deref().unwrap_or(project_dir), seen)?;
    if let Value::Map(entries) = &mut service.value {
        entries.retain(|(k, _)| k.name != "extends");
    }
    if let Value::Map(entries) = &mut base.value {
        entries.retain(|(k, _)| k.name != "extends");
    }
    merge(&mut base, service, &format!("services.{name}"));
    Ok(base)
}

fn clean_path(path: &Path) -> PathBuf {
    let mut out = PathBuf::from("/");
    for c in path.components() {
        match c {
            std::path::Component::ParentDir => {
                out.pop();
            }
            std::path::Component::Normal(p) => out.push(p),
            _ => {}
        }
    }
    out
}

/// depends_on, networks, volumes, secrets and configs name things that exist; no cycles.
fn check_references(model: &mut Project, nodes: &BTreeMap<String, Node>) -> R<()> {
    let mut uses_default = false;
    for (name, service) in &model.services {
        let node = &nodes[name];
        let at = |key: &str, sub: &str| -> Node {
            let n = node.get(key).unwrap_or(node);
            n.get(sub).cloned().unwrap_or_else(|| n.clone())
        };
        for (dep, d) in &service.depends_on {
            if !model.services.contains_key(dep) && d.required {
                let why = if model.disabled.contains(dep) {
                    "a service disabled by its profiles"
                } else {
                    "an undefined service"
                };
                return Err(at("depends_on", dep)
                    .error(&format!("services.{name}.depends_on"), format!("depends on {why} {dep:?}")));
            }
            if d.condition == "service_healthy"
                && let Some(other) = model.services.get(dep)
                && other.healthcheck.as_ref().is_none_or(|h| h.disable || h.test.is_empty())
            {
                // The image may define the healthcheck; `up` checks that when it waits.
            }
        }
        for net in service.networks.keys() {
            if net == "default" {
                uses_default = true;
            } else if !model.networks.contains_key(net) {
                return Err(at("networks", net)
                    .error(&format!("services.{name}.networks"), format!("refers to an undefined network {net:?}")));
            }
        }
        for v in &service.volumes {
            if v.kind == "volume"
                && let Some(src) = &v.source
                && !model.volumes.contains_key(src)
            {
                return Err(at("volumes", "")
                    .error(&format!("services.{name}.volumes"), format!("refers to an undefined volume {src:?}")));
            }
        }
        for (kind, refs, defined) in
            [("secret", &service.secrets, &model.secrets), ("config", &service.configs, &model.configs)]
        {
            for r in refs {
                if !defined.contains_key(&r.source) {
                    return Err(at(&format!("{kind}s"), "").error(
                        &format!("services.{name}.{kind}s"),
                        format!("refers to an undefined {kind} {:?}", r.source),
                    ));
                }
            }
        }
        if let Some(mode) = &service.network_mode
            && let Some(other) = mode.strip_prefix("service:")
            && !model.services.contains_key(other)
        {
            return Err(at("network_mode", "")
                .error(&format!("services.{name}.network_mode"), format!("refers to an undefined service {other:?}")));
        }
    }
    if uses_default && !model.networks.contains_key("default") {
        model
            .networks
            .insert("default".into(), Network { name: format!("{}_default", model.name), ..Network::default() });
    }
    // As compose-go's WithoutUnnecessaryResources: only what an enabled service uses.
    let used = |pick: &dyn Fn(&super::model::Service) -> Vec<String>| -> BTreeSet<String> {
        model.services.values().flat_map(pick).collect()
    };
    let networks = used(&|s| s.networks.keys().cloned().collect());
    let volumes = used(&|s| s.volumes.iter().filter(|v| v.kind == "volume").filter_map(|v| v.source.clone()).collect());
    let secrets = used(&|s| {
        s.secrets.iter().chain(s.build.iter().flat_map(|b| b.secrets.iter())).map(|r| r.source.clone()).collect()
    });
    let configs = used(&|s| s.configs.iter().map(|r| r.source.clone()).collect());
    model.networks.retain(|k, _| networks.contains(k));
    model.volumes.retain(|k, _| volumes.contains(k));
    model.secrets.retain(|k, _| secrets.contains(k));
    model.configs.retain(|k, _| configs.contains(k));
    // Cycles: a depth-first walk over depends_on.
    fn visit<'a>(
        name: &'a str,
        model: &'a Project,
        state: &mut HashMap<&'a str, u8>,
        path: &mut Vec<&'a str>,
    ) -> Option<Vec<String>> {
        match state.get(name) {
            Some(1) => {
                let start = path.iter().position(|p| *p == name).unwrap_or(0);
                let mut cycle: Vec<String> = path[start..].iter().map(|s| s.to_string()).collect();
                cycle.push(name.to_owned());
                return Some(cycle);
            }
            Some(2) => return None,
            _ => {}
        }
        state.insert(name, 1);
        path.push(name);
        if let Some(s) = model.services.get(name) {
            for dep in s.depends_on.keys() {
                if let Some(c) = visit(dep, model, state, path) {
                    return Some(c);
                }
            }
        }
        path.pop();
        state.insert(name, 2);
        None
    }
    let mut state = HashMap::new();
    for name in model.services.keys() {
        if let Some(cycle) = visit(name, model, &mut state, &mut Vec::new()) {
            let node = &nodes[&cycle[0]];
            let at = node.get("depends_on").unwrap_or(node);
            return Err(at.error(
                &format!("services.{}.depends_on", cycle[0]),
                format!("a dependency cycle: {}", cycle.join(" -> ")),
            ));
        }
    }
    Ok(())
}

/// Services in start order: each after what it depends on (names sorted within a level).
pub fn start_order(project: &Project) -> Vec<String> {
    let mut done: Vec<String> = Vec::new();
    while done.len() < project.services.len() {
        let before = done.len();
        for (name, s) in &project.services {
            if !done.contains(name)
                && s.depends_on.keys().all(|d| done.contains(d) || !project.services.contains_key(d))
            {
                done.push(name.clone());
            }
        }
        if done.len() == before {
            break;
        }
    }
    done
}
