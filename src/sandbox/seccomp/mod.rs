//! Seccomp: profiles in Docker's JSON format (Docker's own default profile is built in, as data
//! in docker-default.json), compiled to classic BPF with seccompiler for one container's
//! capability set, and installed as the last step before execve.
//!
//! A profile's rules are resolved the way Docker (moby/profiles/seccomp) resolves them:
//! `includes`/`excludes` by architecture, by the container's capabilities (its bounding set)
//! and by the running kernel's version; names this architecture lacks are skipped, as
//! libseccomp skips them; the arguments of one rule must all match (unless one argument is
//! compared twice: then each comparison is a rule of its own, as runc does).
//!
//! The program is one filter: an architecture check, then a binary search over the syscall
//! numbers the profile names, each leaf returning its action (or running its argument rules,
//! which seccompiler compiles, first). seccompiler's own filter layout tests the syscalls one
//! after another with one action for all matches; Docker's profile has three actions (allow,
//! the default EPERM, ENOSYS for clone3), and a linear scan of ~350 syscalls made installing it
//! cost ~0.8 ms (the kernel runs the filter once per syscall number to cache constant answers)
//! where the tree costs a few microseconds, and each filtered call ~20 instructions, not ~700.
//!
//! On x86_64 the filter also covers the sub-architectures Docker's profile names (its archMap,
//! as libseccomp adds them): 32-bit x86 calls (`int 0x80`, their own audit arch) and x32 calls
//! (x86_64's arch, bit 30 set in the number) get the same rules by name, each with its own
//! numbers and search tree, so 32-bit programs run as under Docker. Any other architecture's
//! calls kill the process.

mod syscalls;

use std::collections::BTreeMap;

use nix::errno::Errno;
use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompRule, sock_filter,
};
use serde::{Deserialize, Deserializer};

/// Docker's default profile (moby profiles/seccomp/default.json), unchanged.
pub const DOCKER_DEFAULT: &str = include_str!("docker-default.json");

const SECCOMP_SET_MODE_FILTER: libc::c_ulong = 1;

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum SeccompError {
    #[error("decoding seccomp profile failed: {0}")]
    Decode(String),
    #[error("invalid seccomp profile: {0}")]
    Invalid(String),
    #[error("seccomp filters are not supported on {0}: use --security-opt seccomp=unconfined")]
    UnsupportedArch(&'static str),
    #[error("compiling the seccomp filter: {0}")]
    Compile(String),
}

/// A profile as Docker's JSON has it. Unknown fields (archMap, architectures, flags,
/// listenerPath, comments) are ignored; lists may be null.
#[derive(Deserialize, Debug, Default)]
#[serde(rename_all = "camelCase")]
struct Profile {
    #[serde(default)]
    default_action: String,
    #[serde(default)]
    default_errno_ret: Option<u32>,
    #[serde(default, deserialize_with = "nullable")]
    syscalls: Vec<Rule>,
}

#[derive(Deserialize, Debug, Default)]
#[serde(rename_all = "camelCase")]
struct Rule {
    #[serde(default, deserialize_with = "nullable")]
    names: Vec<String>,
    /// The old spelling of a one-name rule.
    #[serde(default, deserialize_with = "nullable")]
    name: String,
    #[serde(default)]
    action: String,
    #[serde(default)]
    errno_ret: Option<u32>,
    #[serde(default, deserialize_with = "nullable")]
    args: Vec<Arg>,
    #[serde(default, deserialize_with = "nullable")]
    includes: Filter,
    #[serde(default, deserialize_with = "nullable")]
    excludes: Filter,
}

#[derive(Deserialize, Debug, Default)]
#[serde(rename_all = "camelCase")]
struct Arg {
    index: u8,
    value: u64,
    #[serde(default)]
    value_two: u64,
    op: String,
}

/// A rule's condition on where it applies.
#[derive(Deserialize, Debug, Default)]
#[serde(rename_all = "camelCase")]
struct Filter {
    #[serde(default, deserialize_with = "nullable")]
    caps: Vec<String>,
    #[serde(default, deserialize_with = "nullable")]
    arches: Vec<String>,
    #[serde(default, deserialize_with = "nullable")]
    min_kernel: String,
}

fn nullable<'de, D: Deserializer<'de>, T: Deserialize<'de> + Default>(d: D) -> Result<T, D::Error> {
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// What a profile is resolved against.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Target {
    /// libseccomp's name of the architecture, as profiles spell it ("amd64", "arm64").
    pub arch: &'static str,
    /// (version, major revision) of the running kernel.
    pub kernel: (u64, u64),
    /// The container's capability set (bit n = capability n).
    pub capabilities: u64,
}

impl Target {
    /// This machine, for a container with `capabilities`.
    pub fn current(capabilities: u64) -> Target {
        let release =
            nix::sys::utsname::uname().map(|u| u.release().to_string_lossy().into_owned()).unwrap_or_default();
        Target { arch: native_arch(), kernel: parse_kernel_release(&release).unwrap_or((0, 0)), capabilities }
    }
}

fn native_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

/// "6.18.44-fc" → (6, 18): only the version and major revision count, as in Docker.
pub fn parse_kernel_release(release: &str) -> Option<(u64, u64)> {
    let mut parts = release.splitn(3, |c: char| !c.is_ascii_digit());
    let version = parts.next()?.parse().ok()?;
    let major = parts.next()?.parse().ok()?;
    Some((version, major))
}

/// A profile's `minKernel`: exactly "<version>.<major>", not 0.0.
fn parse_min_kernel(text: &str) -> Result<(u64, u64), SeccompError> {
    let invalid = || SeccompError::Invalid(format!("invalid kernel version {text:?}, expected \"<kernel>.<major>\""));
    let (version, major) = text.split_once('.').ok_or_else(invalid)?;
    let parsed = (version.parse::<u8>().map_err(|_| invalid())?, major.parse::<u8>().map_err(|_| invalid())?);
    if parsed == (0, 0) {
        return Err(invalid());
    }
    Ok((parsed.0.into(), parsed.1.into()))
}

fn has_capability(target: &Target, name: &str) -> bool {
    super::caps::number(name).is_some_and(|cap| target.capabilities & (1 << cap) != 0)
}

/// Whether a rule belongs in the filter for `target` (Docker's setupSeccomp): excluded if any
/// excluded arch or capability is there or the kernel is at least the excluded version;
/// included only if its arch is listed, all its capabilities are there and the kernel is recent
/// enough.
fn applies(rule: &Rule, target: &Target) -> Result<bool, SeccompError> {
    let ex = &rule.excludes;
    if ex.arches.iter().any(|a| a == target.arch) || ex.caps.iter().any(|c| has_capability(target, c)) {
        return Ok(false);
    }
    if !ex.min_kernel.is_empty() && target.kernel >= parse_min_kernel(&ex.min_kernel)? {
        return Ok(false);
    }
    let inc = &rule.includes;
    if !inc.arches.is_empty() && !inc.arches.iter().any(|a| a == target.arch) {
        return Ok(false);
    }
    if !inc.caps.iter().all(|c| has_capability(target, c)) {
        return Ok(false);
    }
    if !inc.min_kernel.is_empty() && target.kernel < parse_min_kernel(&inc.min_kernel)? {
        return Ok(false);
    }
    Ok(true)
}

/// A profile action; ERRNO without a number is EPERM (the rule's errnoRet, or for the default
/// action the profile's defaultErrnoRet).
fn parse_action(name: &str, errno: Option<u32>) -> Result<SeccompAction, SeccompError> {
    Ok(match name {
        "SCMP_ACT_ALLOW" => SeccompAction::Allow,
        "SCMP_ACT_ERRNO" => SeccompAction::Errno(errno.unwrap_or(libc::EPERM as u32)),
        "SCMP_ACT_KILL" | "SCMP_ACT_KILL_THREAD" => SeccompAction::KillThread,
        "SCMP_ACT_KILL_PROCESS" => SeccompAction::KillProcess,
        "SCMP_ACT_TRAP" => SeccompAction::Trap,
        "SCMP_ACT_LOG" => SeccompAction::Log,
        "SCMP_ACT_TRACE" => SeccompAction::Trace(errno.unwrap_or(0)),
        "" => return Err(SeccompError::Invalid("a rule has no action".into())),
        other => return Err(SeccompError::Invalid(format!("unsupported action {other:?}"))),
    })
}

/// One argument comparison; libseccomp compares all 64 bits, and so does this.
fn parse_condition(arg: &Arg) -> Result<SeccompCondition, SeccompError> {
    let (op, value) = match arg.op.as_str() {
        "SCMP_CMP_NE" => (SeccompCmpOp::Ne, arg.value),
        "SCMP_CMP_LT" => (SeccompCmpOp::Lt, arg.value),
        "SCMP_CMP_LE" => (SeccompCmpOp::Le, arg.value),
        "SCMP_CMP_EQ" => (SeccompCmpOp::Eq, arg.value),
        "SCMP_CMP_GE" => (SeccompCmpOp::Ge, arg.value),
        "SCMP_CMP_GT" => (SeccompCmpOp::Gt, arg.value),
        // value is the mask, valueTwo what the masked argument must equal.
        "SCMP_CMP_MASKED_EQ" => (SeccompCmpOp::MaskedEq(arg.value), arg.value_two),
        other => return Err(SeccompError::Invalid(format!("unsupported comparison {other:?}"))),
    };
    if arg.index > 5 {
        return Err(SeccompError::Invalid(format!("argument index {} is out of range (0-5)", arg.index)));
    }
    SeccompCondition::new(arg.index, SeccompCmpArgLen::Qword, op, value)
        .map_err(|e| SeccompError::Invalid(e.to_string()))
}

/// The argument conditions of one profile rule as seccompiler rules (any of which matches);
/// empty when the rule has no arguments (it always matches).
fn parse_conditions(args: &[Arg]) -> Result<Vec<SeccompRule>, SeccompError> {
    let conditions = args.iter().map(parse_condition).collect::<Result<Vec<_>, _>>()?;
    if conditions.is_empty() {
        return Ok(Vec::new());
    }
    let mut seen = [false; 6];
    let repeated = args.iter().any(|a| std::mem::replace(&mut seen[usize::from(a.index)], true));
    let groups: Vec<Vec<SeccompCondition>> =
        if repeated { conditions.into_iter().map(|c| vec![c]).collect() } else { vec![conditions] };
    groups.into_iter().map(|g| SeccompRule::new(g).map_err(|e| SeccompError::Invalid(e.to_string()))).collect()
}

/// When a syscall matches: always, or when any of these argument rules does.
#[derive(Debug, Clone, PartialEq)]
enum Chain {
    Always,
    When(Vec<SeccompRule>),
}

impl Chain {
    fn merge(&mut self, rules: Vec<SeccompRule>) {
        match (&mut *self, rules.is_empty()) {
            (Chain::Always, _) => {}
            (_, true) => *self = Chain::Always,
            (Chain::When(existing), false) => existing.extend(rules),
        }
    }

    fn into_rules(self) -> Vec<SeccompRule> {
        match self {
            Chain::Always => Vec::new(),
            Chain::When(rules) => rules,
        }
    }
}

type Chains = BTreeMap<i64, Chain>;

/// A profile resolved for one target: the default action and, per action, the syscalls (by
/// number) that get it; and the same for each sub-architecture the filter covers.
#[derive(Debug, PartialEq)]
struct Resolved {
    default: SeccompAction,
    groups: Vec<(SeccompAction, Chains)>,
    compat: Vec<(SubArch, Vec<(SeccompAction, Chains)>)>,
}

/// A sub-architecture whose calls a filter compiled for this one also sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SubArch {
    /// 32-bit x86: AUDIT_ARCH_I386.
    I386,
    /// x32: AUDIT_ARCH_X86_64, numbers with [`X32_SYSCALL_BIT`].
    X32,
}

const AUDIT_ARCH_I386: u32 = 0x4000_0003;
const X32_SYSCALL_BIT: u32 = 0x4000_0000;

impl SubArch {
    /// Those of this architecture (Docker's archMap: amd64 → x86, x32).
    fn of_this_arch() -> &'static [SubArch] {
        if cfg!(target_arch = "x86_64") { &[SubArch::I386, SubArch::X32] } else { &[] }
    }

    fn table(self) -> &'static [(&'static str, i64)] {
        #[cfg(target_arch = "x86_64")]
        return match self {
            SubArch::I386 => syscalls::I386_TABLE,
            SubArch::X32 => syscalls::X32_TABLE,
        };
        #[cfg(not(target_arch = "x86_64"))]
        return &[];
    }
}

fn add_rule(chains: &mut Chains, number: i64, rules: Vec<SeccompRule>) {
    match chains.get_mut(&number) {
        Some(chain) => chain.merge(rules),
        None => {
            let chain = if rules.is_empty() { Chain::Always } else { Chain::When(rules) };
            chains.insert(number, chain);
        }
    }
}

/// Parses a profile and keeps the rules that apply to `target`. Every rule is checked
/// (actions, comparisons, kernel versions), whether it applies here or not, so a profile that
/// is broken anywhere is refused everywhere. Ok(None): the profile disables seccomp (no default
/// action and no rules, as Docker reads it).
fn resolve(json: &str, target: &Target) -> Result<Option<Resolved>, SeccompError> {
    let profile: Profile = serde_json::from_str(json).map_err(|e| SeccompError::Decode(e.to_string()))?;
    if profile.default_action.is_empty() && profile.syscalls.is_empty() {
        return Ok(None);
    }
    if profile.default_action.is_empty() {
        return Err(SeccompError::Invalid("defaultAction is missing".into()));
    }
    let default = parse_action(&profile.default_action, profile.default_errno_ret)?;
    let mut applicable = Vec::new();
    for rule in &profile.syscalls {
        if !rule.name.is_empty() && !rule.names.is_empty() {
            return Err(SeccompError::Invalid("a rule has both 'name' and 'names'".into()));
        }
        let action = parse_action(&rule.action, rule.errno_ret)?;
        let conditions = parse_conditions(&rule.args)?;
        for min_kernel in [&rule.includes.min_kernel, &rule.excludes.min_kernel] {
            if !min_kernel.is_empty() {
                parse_min_kernel(min_kernel)?;
            }
        }
        if !applies(rule, target)? {
            continue;
        }
        let names = if rule.name.is_empty() { rule.names.as_slice() } else { std::slice::from_ref(&rule.name) };
        applicable.push((action, names, conditions));
    }
    let groups = number_groups(&applicable, syscalls::TABLE);
    let compat = SubArch::of_this_arch().iter().map(|&sub| (sub, number_groups(&applicable, sub.table()))).collect();
    Ok(Some(Resolved { default, groups, compat }))
}

/// The rules that apply, (action, names, argument rules) in profile order, as per-action
/// syscalls by number in `table`; names it lacks are skipped.
fn number_groups(
    applicable: &[(SeccompAction, &[String], Vec<SeccompRule>)],
    table: &[(&str, i64)],
) -> Vec<(SeccompAction, Chains)> {
    let mut groups: Vec<(SeccompAction, Chains)> = Vec::new();
    for (action, names, conditions) in applicable {
        let index = match groups.iter().position(|(a, _)| a == action) {
            Some(i) => i,
            None => {
                groups.push((action.clone(), Chains::new()));
                groups.len() - 1
            }
        };
        for number in names.iter().filter_map(|n| syscalls::number_in(table, n)) {
            add_rule(&mut groups[index].1, number, conditions.clone());
        }
    }
    groups.retain(|(_, chains)| !chains.is_empty());
    groups
}

// Classic BPF as seccomp runs it (include/uapi/linux/filter.h, seccomp.h, audit.h).
const LD_W_ABS: u16 = 0x20;
const JMP_JA: u16 = 0x05;
const JMP_JEQ_K: u16 = 0x15;
const JMP_JGT_K: u16 = 0x25;
const JMP_JGE_K: u16 = 0x35;
const RET_K: u16 = 0x06;
const DATA_NR: u32 = 0;
const DATA_ARCH: u32 = 4;
const RET_KILL_PROCESS: u32 = 0x8000_0000;
/// The kernel refuses longer programs (BPF_MAXINSNS).
const MAX_INSTRUCTIONS: usize = 4096;
/// Nodes tested one by one at the bottom of the search tree.
const LINEAR_NODES: usize = 4;

fn stmt(code: u16, k: u32) -> sock_filter {
    sock_filter { code, jt: 0, jf: 0, k }
}

fn jump(code: u16, k: u32, jt: u8, jf: u8) -> sock_filter {
    sock_filter { code, jt, jf, k }
}

/// AUDIT_ARCH_* of the architecture filters are compiled for.
fn audit_arch() -> Result<u32, SeccompError> {
    match std::env::consts::ARCH {
        "x86_64" => Ok(0xC000_003E),
        "aarch64" => Ok(0xC000_00B7),
        other => Err(SeccompError::UnsupportedArch(other)),
    }
}

/// What one syscall gets: the first of its choices that matches, else the default action.
struct Leaf {
    nr: u32,
    /// (action, argument rules; empty: always), in profile order.
    choices: Vec<(SeccompAction, Vec<SeccompRule>)>,
}

impl Leaf {
    /// The action, when it does not depend on the arguments.
    fn constant(&self) -> Option<&SeccompAction> {
        match self.choices.first() {
            Some((action, rules)) if rules.is_empty() => Some(action),
            _ => None,
        }
    }
}

/// What the search tree tells apart: a run of consecutive syscall numbers with one constant
/// action (most of an allow-list), or one syscall whose answer depends on its arguments.
enum Node {
    Run { first: u32, last: u32, action: u32 },
    Leaf(Leaf),
}

impl Node {
    fn first(&self) -> u32 {
        match self {
            Node::Run { first, .. } => *first,
            Node::Leaf(leaf) => leaf.nr,
        }
    }
}

/// `leaves` (sorted) with consecutive constant ones of the same action merged into runs.
fn nodes(leaves: Vec<Leaf>) -> Vec<Node> {
    let mut nodes: Vec<Node> = Vec::new();
    for leaf in leaves {
        let Some(action) = leaf.constant().map(|a| u32::from(a.clone())) else {
            nodes.push(Node::Leaf(leaf));
            continue;
        };
        match nodes.last_mut() {
            Some(Node::Run { last, action: run_action, .. }) if *last + 1 == leaf.nr && *run_action == action => {
                *last = leaf.nr;
            }
            _ => nodes.push(Node::Run { first: leaf.nr, last: leaf.nr, action }),
        }
    }
    nodes
}

/// A leaf's code, entered when the syscall number matched; every path returns.
fn leaf_code(leaf: &Leaf, default: u32) -> Vec<sock_filter> {
    let mut code = Vec::new();
    for (action, rules) in &leaf.choices {
        let ret = stmt(RET_K, u32::from(action.clone()));
        if rules.is_empty() {
            code.push(ret);
            return code;
        }
        for rule in rules {
            // A rule falls through when its conditions hold and otherwise jumps just past the
            // instruction that follows it (seccompiler's layout).
            code.extend(BpfProgram::from(rule.clone()));
            code.push(ret.clone());
        }
    }
    code.push(stmt(RET_K, default));
    code
}

/// Code choosing among `nodes` (sorted) for the syscall number in the accumulator; every path
/// returns. Conditional jumps stay short (at most 3 ahead); long ones are JA, whose offset has
/// 32 bits, so no leaf is too far.
fn search(nodes: &[Node], default: u32) -> Vec<sock_filter> {
    if nodes.len() <= LINEAR_NODES {
        // Ascending: a number below a node's first falls in a gap, which the node answers.
        let mut code = Vec::new();
        for node in nodes {
            match node {
                Node::Run { first, last, action } => code.extend([
                    jump(JMP_JGT_K, *last, 3, 0),
                    jump(JMP_JGE_K, *first, 0, 1),
                    stmt(RET_K, *action),
                    stmt(RET_K, default),
                ]),
                Node::Leaf(leaf) => {
                    let body = leaf_code(leaf, default);
                    code.extend([
                        // Above it: over everything of this node, to the next one.
                        jump(JMP_JGT_K, leaf.nr, 0, 1),
                        stmt(JMP_JA, 2 + body.len() as u32),
                        jump(JMP_JEQ_K, leaf.nr, 1, 0),
                        stmt(RET_K, default),
                    ]);
                    code.extend(body);
                }
            }
        }
        code.push(stmt(RET_K, default));
        return code;
    }
    let middle = nodes.len() / 2;
    let (below, above) = (search(&nodes[..middle], default), search(&nodes[middle..], default));
    let mut code = Vec::with_capacity(below.len() + above.len() + 2);
    // nr >= the upper half's first number: over the JA's skip, to `above`.
    code.push(jump(JMP_JGE_K, nodes[middle].first(), 0, 1));
    code.push(stmt(JMP_JA, below.len() as u32));
    code.extend(below);
    code.extend(above);
    code
}

/// The search over one architecture's syscalls, for the number in the accumulator.
fn search_groups(groups: Vec<(SeccompAction, Chains)>, default: u32) -> Result<Vec<sock_filter>, SeccompError> {
    let mut leaves: BTreeMap<i64, Leaf> = BTreeMap::new();
    for (action, chains) in groups {
        for (nr, chain) in chains {
            let nr32 = u32::try_from(nr).map_err(|_| SeccompError::Compile(format!("syscall number {nr}")))?;
            let leaf = leaves.entry(nr).or_insert_with(|| Leaf { nr: nr32, choices: Vec::new() });
            leaf.choices.push((action.clone(), chain.into_rules()));
        }
    }
    Ok(search(&nodes(leaves.into_values().collect()), default))
}

/// The filter program for `resolved` on the architecture `arch` (AUDIT_ARCH_*): the native
/// search (x32 numbers branch off to theirs) and one per other audit arch; anything else kills.
fn build(resolved: Resolved, arch: u32) -> Result<BpfProgram, SeccompError> {
    let default = u32::from(resolved.default.clone());
    let mut native = search_groups(resolved.groups, default)?;
    let mut others: Vec<(u32, Vec<sock_filter>)> = Vec::new();
    for (sub, groups) in resolved.compat {
        let code = search_groups(groups, default)?;
        match sub {
            // x32 shares the arch: numbers with the x32 bit go over the native search to theirs.
            SubArch::X32 => {
                let mut split = vec![jump(JMP_JGE_K, X32_SYSCALL_BIT, 0, 1), stmt(JMP_JA, native.len() as u32)];
                split.append(&mut native);
                split.extend(code);
                native = split;
            }
            SubArch::I386 => others.push((AUDIT_ARCH_I386, code)),
        }
    }
    // Each arch's test jumps (JA: any distance) to its section: a load of the number, then
    // its search; the sections follow the tests and the kill, in order.
    let mut sections = vec![(arch, native)];
    sections.extend(others);
    let mut program = vec![stmt(LD_W_ABS, DATA_ARCH)];
    let mut ahead: usize = 1; // past the tests still to come: the kill
    ahead += sections.len() * 2;
    for (i, (token, _)) in sections.iter().enumerate() {
        let before: usize = sections[..i].iter().map(|(_, code)| code.len() + 1).sum();
        ahead -= 2;
        program.push(jump(JMP_JEQ_K, *token, 0, 1));
        program.push(stmt(JMP_JA, (ahead + before) as u32));
    }
    program.push(stmt(RET_K, RET_KILL_PROCESS));
    for (_, code) in sections {
        program.push(stmt(LD_W_ABS, DATA_NR));
        program.extend(code);
    }
    if program.len() > MAX_INSTRUCTIONS {
        return Err(SeccompError::Compile(format!(
            "{} BPF instructions, more than the kernel's {MAX_INSTRUCTIONS}",
            program.len()
        )));
    }
    Ok(program)
}

/// The filters for a container with `capabilities` under `profile` (Docker's JSON), to be
/// installed in order with [`install`]: one, or none when the profile disables seccomp.
pub fn compile(profile: &str, capabilities: u64) -> Result<Vec<BpfProgram>, SeccompError> {
    let arch = audit_arch()?;
    match resolve(profile, &Target::current(capabilities))? {
        // Allowing everything needs no filter.
        Some(r) if r.default == SeccompAction::Allow && r.groups.iter().all(|(a, _)| *a == SeccompAction::Allow) => {
            Ok(Vec::new())
        }
        Some(resolved) => Ok(vec![build(resolved, arch)?]),
        None => Ok(Vec::new()),
    }
}

/// Checks that `profile` can be used (for `create`, before anything is stored).
pub fn check_profile(profile: &str) -> Result<(), SeccompError> {
    compile(profile, super::caps::default_mask()).map(drop)
}

/// Installs `filters` on the calling thread (the container's process is single-threaded), in
/// order. Without no_new_privs set this needs CAP_SYS_ADMIN in the process's user namespace.
pub fn install(filters: &[BpfProgram]) -> Result<(), Errno> {
    for filter in filters {
        let len = u16::try_from(filter.len()).map_err(|_| Errno::E2BIG)?;
        let prog = libc::sock_fprog { len, filter: filter.as_ptr() as *mut libc::sock_filter };
        // SAFETY: seccompiler's sock_filter is #[repr(C)] with the kernel's layout (u16, u8,
        // u8, u32), the same as libc's; the kernel copies `len` instructions from `filter`,
        // which lives for the call, and reads `prog` only during it.
        let ret = unsafe {
            libc::syscall(
                libc::SYS_seccomp,
                SECCOMP_SET_MODE_FILTER,
                0 as libc::c_ulong,
                &prog as *const libc::sock_fprog,
            )
        };
        if ret < 0 {
            return Err(Errno::last());
        }
    }
    Ok(())
}

/// prctl(PR_SET_NO_NEW_PRIVS): execve can no longer grant privileges (setuid bits, file
/// capabilities); inherited by every child.
pub fn set_no_new_privs() -> Result<(), Errno> {
    // SAFETY: PR_SET_NO_NEW_PRIVS takes integer arguments only.
    let ret = unsafe {
        libc::prctl(
            libc::PR_SET_NO_NEW_PRIVS,
            1 as libc::c_ulong,
            0 as libc::c_ulong,
            0 as libc::c_ulong,
            0 as libc::c_ulong,
        )
    };
    if ret < 0 { Err(Errno::last()) } else { Ok(()) }
}

/// A resolved profile as text, one line per action and syscall, for tests and debugging.
#[cfg(test)]
fn describe(resolved: &Resolved) -> String {
    use std::fmt::Write as _;
    let mut out = format!("default {:?}\n", resolved.default);
    for (action, chains) in &resolved.groups {
        for (nr, chain) in chains {
            let _ = writeln!(out, "{action:?} {nr} {}", if *chain == Chain::Always { "always" } else { "when" });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sandbox::caps;

    fn amd64(capabilities: u64) -> Target {
        Target { arch: "amd64", kernel: (6, 1), capabilities }
    }

    fn resolved(json: &str, target: &Target) -> Resolved {
        resolve(json, target).unwrap().unwrap()
    }

    /// The action the resolved profile gives syscall `name` when its arguments match whatever
    /// the rules ask, and whether arguments matter.
    fn action_of(r: &Resolved, name: &str) -> (SeccompAction, Option<bool>) {
        let nr = syscalls::number(name).unwrap_or_else(|| panic!("{name} is not in the table"));
        let mut found = (r.default.clone(), None);
        for (action, chains) in &r.groups {
            if let Some(chain) = chains.get(&nr)
                && (*action != SeccompAction::Allow || found.1.is_none())
            {
                found = (action.clone(), Some(*chain != Chain::Always));
            }
        }
        found
    }

    #[test]
    fn syscall_table_is_sorted_and_agrees_with_libc() {
        for table in [syscalls::TABLE, syscalls::I386_TABLE, syscalls::X32_TABLE] {
            assert!(table.windows(2).all(|w| w[0].0 < w[1].0), "sorted, no duplicates");
        }
        for (name, nr) in [
            ("read", libc::SYS_read),
            ("clone", libc::SYS_clone),
            ("clone3", libc::SYS_clone3),
            ("keyctl", libc::SYS_keyctl),
            ("unshare", libc::SYS_unshare),
            ("ptrace", libc::SYS_ptrace),
            ("init_module", libc::SYS_init_module),
            ("personality", libc::SYS_personality),
            ("socket", libc::SYS_socket),
            ("mount", libc::SYS_mount),
            ("futex_waitv", libc::SYS_futex_waitv),
        ] {
            assert_eq!(syscalls::number(name), Some(nr), "{name}");
        }
        assert_eq!(syscalls::number("no_such_call"), None);
    }

    #[test]
    fn dockers_default_profile_follows_the_capabilities() {
        let r = resolved(DOCKER_DEFAULT, &amd64(caps::default_mask()));
        assert_eq!(r.default, SeccompAction::Errno(libc::EPERM as u32));
        let allow = (SeccompAction::Allow, Some(false));
        assert_eq!(action_of(&r, "read"), allow);
        assert_eq!(action_of(&r, "arch_prctl"), allow);
        // Dropped without CAP_SYS_ADMIN & co.: EPERM by default.
        for denied in ["keyctl", "add_key", "unshare", "mount", "setns", "init_module", "bpf", "reboot", "kcmp"] {
            assert_eq!(action_of(&r, denied), (r.default.clone(), None), "{denied}");
        }
        // clone only without namespace flags; clone3 says ENOSYS so libc falls back to clone.
        assert_eq!(action_of(&r, "clone"), (SeccompAction::Allow, Some(true)));
        assert_eq!(action_of(&r, "clone3"), (SeccompAction::Errno(libc::ENOSYS as u32), Some(false)));
        // socket: everything but AF_VSOCK (40); personality: five values.
        assert_eq!(action_of(&r, "socket"), (SeccompAction::Allow, Some(true)));
        assert_eq!(action_of(&r, "personality"), (SeccompAction::Allow, Some(true)));
        // CAP_SYS_CHROOT is in the default set.
        assert_eq!(action_of(&r, "chroot"), allow);

        let admin = resolved(DOCKER_DEFAULT, &amd64(caps::default_mask() | 1 << 21));
        for allowed in ["unshare", "mount", "setns", "clone", "clone3", "umount2"] {
            assert_eq!(action_of(&admin, allowed), allow, "{allowed} with CAP_SYS_ADMIN");
        }
        assert_eq!(action_of(&admin, "keyctl"), (admin.default.clone(), None), "keyctl stays denied");
        let ptrace = resolved(DOCKER_DEFAULT, &amd64(caps::default_mask() | 1 << 19));
        assert_eq!(action_of(&ptrace, "ptrace"), allow);
        let none = resolved(DOCKER_DEFAULT, &amd64(0));
        assert_eq!(action_of(&none, "chroot"), (none.default.clone(), None));
    }

    #[test]
    fn min_kernel_and_arch_conditions() {
        // ptrace is allowed from 4.8 on without CAP_SYS_PTRACE.
        let old = Target { kernel: (4, 4), ..amd64(caps::default_mask()) };
        let r = resolved(DOCKER_DEFAULT, &old);
        assert_eq!(action_of(&r, "ptrace"), (r.default.clone(), None));
        let new = Target { kernel: (4, 8), ..amd64(caps::default_mask()) };
        assert_eq!(action_of(&resolved(DOCKER_DEFAULT, &new), "ptrace"), (SeccompAction::Allow, Some(false)));
        // arch_prctl is for amd64 and x32 only.
        let arm = Target { arch: "arm64", ..amd64(caps::default_mask()) };
        let text = describe(&resolved(DOCKER_DEFAULT, &arm));
        assert!(!text.contains(&format!("Allow {} ", syscalls::number("arch_prctl").unwrap())), "{text}");
        assert_eq!(parse_kernel_release("6.18.44-fc-v769"), Some((6, 18)));
        assert_eq!(parse_kernel_release("3.12-1-amd64"), Some((3, 12)));
        assert_eq!(parse_kernel_release("garbage"), None);
        assert!(parse_min_kernel("4").is_err());
        assert!(parse_min_kernel("0.0").is_err());
        assert_eq!(parse_min_kernel("5.10"), Ok((5, 10)));
    }

    #[test]
    fn argument_comparisons_map_to_seccompiler() {
        let arg = |op: &str, value, value_two| Arg { index: 0, value, value_two, op: op.into() };
        let cond = |op, value| SeccompCondition::new(0, SeccompCmpArgLen::Qword, op, value).unwrap();
        assert_eq!(parse_condition(&arg("SCMP_CMP_NE", 40, 0)).unwrap(), cond(SeccompCmpOp::Ne, 40));
        assert_eq!(parse_condition(&arg("SCMP_CMP_LT", 38, 0)).unwrap(), cond(SeccompCmpOp::Lt, 38));
        assert_eq!(parse_condition(&arg("SCMP_CMP_GE", 1, 0)).unwrap(), cond(SeccompCmpOp::Ge, 1));
        assert_eq!(
            parse_condition(&arg("SCMP_CMP_MASKED_EQ", 0x7E02_0000, 0)).unwrap(),
            cond(SeccompCmpOp::MaskedEq(0x7E02_0000), 0)
        );
        assert!(parse_condition(&arg("SCMP_CMP_FUZZY", 0, 0)).is_err());
        assert!(parse_condition(&Arg { index: 6, ..arg("SCMP_CMP_EQ", 0, 0) }).is_err());
        // Two comparisons of different arguments: one rule; of the same argument: two rules.
        let two = [arg("SCMP_CMP_EQ", 1, 0), Arg { index: 1, ..arg("SCMP_CMP_EQ", 2, 0) }];
        assert_eq!(parse_conditions(&two).unwrap().len(), 1);
        let same = [arg("SCMP_CMP_GE", 1, 0), arg("SCMP_CMP_LE", 9, 0)];
        assert_eq!(parse_conditions(&same).unwrap().len(), 2);
        assert!(parse_conditions(&[]).unwrap().is_empty());
    }

    #[test]
    fn actions_and_errnos() {
        assert_eq!(parse_action("SCMP_ACT_ERRNO", None), Ok(SeccompAction::Errno(libc::EPERM as u32)));
        assert_eq!(parse_action("SCMP_ACT_ERRNO", Some(38)), Ok(SeccompAction::Errno(38)));
        assert_eq!(parse_action("SCMP_ACT_KILL", None), Ok(SeccompAction::KillThread));
        assert_eq!(parse_action("SCMP_ACT_KILL_PROCESS", None), Ok(SeccompAction::KillProcess));
        assert!(parse_action("SCMP_ACT_NOTIFY", None).is_err());
        let profile = r#"{"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 38, "syscalls": null}"#;
        assert_eq!(resolved(profile, &amd64(0)).default, SeccompAction::Errno(38));
    }

    #[test]
    fn broken_profiles_are_refused_with_a_reason() {
        let err = resolve("{not json", &amd64(0)).unwrap_err();
        assert!(matches!(err, SeccompError::Decode(_)), "{err}");
        assert!(err.to_string().starts_with("decoding seccomp profile failed: "), "{err}");
        let bad_op = r#"{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["read"],
            "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_SOMETIMES"}],
            "includes": {"caps": ["CAP_SYS_ADMIN"]}}]}"#;
        // Refused although the rule does not apply to this container.
        assert!(resolve(bad_op, &amd64(0)).unwrap_err().to_string().contains("SCMP_CMP_SOMETIMES"));
        let both = r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"name": "read", "names": ["write"],
            "action": "SCMP_ACT_ERRNO"}]}"#;
        assert!(resolve(both, &amd64(0)).is_err());
        let no_default = r#"{"syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW"}]}"#;
        assert!(resolve(no_default, &amd64(0)).is_err());
        // An empty profile disables seccomp, as in Docker.
        assert_eq!(resolve("{}", &amd64(0)).unwrap(), None);
        assert_eq!(
            check_profile("[1, 2]").unwrap_err().to_string().split(':').next(),
            Some("decoding seccomp profile failed")
        );
    }

    #[test]
    fn unknown_names_are_skipped_and_old_single_names_work() {
        let profile = r#"{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
            {"names": ["read", "no_such_call", "socketcall"], "action": "SCMP_ACT_ALLOW"},
            {"name": "write", "action": "SCMP_ACT_ALLOW", "args": null, "includes": {}, "excludes": null}]}"#;
        let text = describe(&resolved(profile, &amd64(0)));
        let lines: Vec<&str> = text.lines().collect();
        let read = syscalls::number("read").unwrap();
        let write = syscalls::number("write").unwrap();
        assert_eq!(lines, ["default Errno(1)", &format!("Allow {read} always"), &format!("Allow {write} always")]);
    }

    const X86_64: u32 = 0xC000_003E;

    /// Runs a classic BPF program the way the kernel's seccomp does, on a seccomp_data of
    /// (arch, nr, args); the instructions are those berth and seccompiler emit.
    fn run(program: &[sock_filter], arch: u32, nr: i64, args: [u64; 6]) -> u32 {
        let word = |offset: u32| -> u32 {
            match offset {
                0 => nr as u32,
                4 => arch,
                16..=63 => {
                    let arg = args[((offset - 16) / 8) as usize];
                    if (offset - 16).is_multiple_of(8) { arg as u32 } else { (arg >> 32) as u32 }
                }
                other => panic!("load at {other}"),
            }
        };
        let (mut pc, mut acc) = (0usize, 0u32);
        loop {
            let insn = &program[pc];
            pc += 1;
            let jumped = |taken: bool| usize::from(if taken { insn.jt } else { insn.jf });
            match insn.code {
                LD_W_ABS => acc = word(insn.k),
                0x54 => acc &= insn.k,
                JMP_JA => pc += insn.k as usize,
                JMP_JEQ_K => pc += jumped(acc == insn.k),
                JMP_JGT_K => pc += jumped(acc > insn.k),
                JMP_JGE_K => pc += jumped(acc >= insn.k),
                RET_K => return insn.k,
                other => panic!("unexpected instruction {other:#x}"),
            }
        }
    }

    fn nr(name: &str) -> i64 {
        syscalls::number(name).unwrap()
    }

    const ALLOW: u32 = 0x7fff_0000;
    const EPERM: u32 = 0x0005_0000 | libc::EPERM as u32;
    const ENOSYS: u32 = 0x0005_0000 | libc::ENOSYS as u32;

    #[test]
    fn the_compiled_default_profile_answers_like_dockers() {
        let program = build(resolved(DOCKER_DEFAULT, &amd64(caps::default_mask())), X86_64).unwrap();
        assert!(program.len() < MAX_INSTRUCTIONS);
        let call = |name: &str, args: [u64; 6]| run(&program, X86_64, nr(name), args);
        let none = [0; 6];
        for allowed in
            ["read", "write", "openat", "execve", "exit_group", "arch_prctl", "chroot", "ptrace", "futex_waitv"]
        {
            assert_eq!(call(allowed, none), ALLOW, "{allowed}");
        }
        for denied in ["keyctl", "add_key", "unshare", "mount", "setns", "init_module", "bpf", "reboot", "kcmp"] {
            assert_eq!(call(denied, none), EPERM, "{denied}");
        }
        assert_eq!(call("clone3", none), ENOSYS);
        // clone without namespace flags (SIGCHLD | CLONE_VM ...) only.
        assert_eq!(call("clone", [libc::SIGCHLD as u64 | 0x100, 0, 0, 0, 0, 0]), ALLOW);
        assert_eq!(call("clone", [libc::CLONE_NEWUSER as u64 | libc::SIGCHLD as u64, 0, 0, 0, 0, 0]), EPERM);
        assert_eq!(call("clone", [libc::CLONE_NEWNS as u64, 0, 0, 0, 0, 0]), EPERM);
        // Every address family but AF_VSOCK (40).
        for family in [1u64, 2, 10, 16, 39, 41, 44] {
            assert_eq!(call("socket", [family, 1, 0, 0, 0, 0]), ALLOW, "family {family}");
        }
        assert_eq!(call("socket", [40, 1, 0, 0, 0, 0]), EPERM);
        // personality: the five values, compared on all 64 bits.
        for persona in [0u64, 8, 0x20000, 0x20008, 0xffff_ffff] {
            assert_eq!(call("personality", [persona, 0, 0, 0, 0, 0]), ALLOW, "{persona:#x}");
        }
        assert_eq!(call("personality", [0x0040_0000, 0, 0, 0, 0, 0]), EPERM);
        assert_eq!(call("personality", [1 << 32, 0, 0, 0, 0, 0]), EPERM);
        // Unknown numbers: the default. 32-bit x86 and x32 calls: the same rules by their own
        // numbers (Docker's archMap); another architecture: killed.
        assert_eq!(run(&program, X86_64, 999, none), EPERM);
        let i386 = |name: &str| syscalls::number_in(syscalls::I386_TABLE, name).unwrap();
        let x32 = |name: &str| syscalls::number_in(syscalls::X32_TABLE, name).unwrap();
        assert_eq!(
            (i386("read"), i386("socketcall"), x32("read"), x32("rt_sigaction")),
            (3, 102, 1 << 30, 512 | 1 << 30)
        );
        for allowed in ["read", "write", "execve", "exit_group", "socketcall", "mmap2", "rt_sigaction", "futex_waitv"] {
            assert_eq!(run(&program, AUDIT_ARCH_I386, i386(allowed), none), ALLOW, "i386 {allowed}");
        }
        for denied in ["keyctl", "unshare", "mount", "init_module", "bpf", "reboot"] {
            assert_eq!(run(&program, AUDIT_ARCH_I386, i386(denied), none), EPERM, "i386 {denied}");
        }
        assert_eq!(run(&program, AUDIT_ARCH_I386, i386("clone3"), none), ENOSYS);
        let clone_newuser = [libc::CLONE_NEWUSER as u64 | libc::SIGCHLD as u64, 0, 0, 0, 0, 0];
        assert_eq!(run(&program, AUDIT_ARCH_I386, i386("clone"), clone_newuser), EPERM);
        assert_eq!(run(&program, AUDIT_ARCH_I386, i386("clone"), [libc::SIGCHLD as u64, 0, 0, 0, 0, 0]), ALLOW);
        assert_eq!(run(&program, AUDIT_ARCH_I386, i386("personality"), [0xffff_ffff, 0, 0, 0, 0, 0]), ALLOW);
        for allowed in ["read", "write", "rt_sigaction", "ioctl", "execve", "arch_prctl"] {
            assert_eq!(run(&program, X86_64, x32(allowed), none), ALLOW, "x32 {allowed}");
        }
        for denied in ["keyctl", "unshare", "mount"] {
            assert_eq!(run(&program, X86_64, x32(denied), none), EPERM, "x32 {denied}");
        }
        assert_eq!(run(&program, X86_64, x32("clone"), clone_newuser), EPERM);
        assert_eq!(run(&program, 0xC000_00B7, nr("read"), none), RET_KILL_PROCESS);
        // Every 32-bit and x32 number answers something too, and only the profile's are allowed.
        for (arch, table, base) in
            [(AUDIT_ARCH_I386, syscalls::I386_TABLE, 0), (X86_64, syscalls::X32_TABLE, i64::from(X32_SYSCALL_BIT))]
        {
            for number in base..base + 1024 {
                let answer = run(&program, arch, number, none);
                assert!([ALLOW, EPERM, ENOSYS].contains(&answer), "{arch:#x} {number}: {answer:#x}");
                let name = table.iter().find(|(_, n)| *n == number).map(|(name, _)| *name);
                if answer == ALLOW {
                    assert!(name.is_some_and(|n| DOCKER_DEFAULT.contains(&format!("\"{n}\""))), "{number} allowed");
                }
            }
        }
        // Every number answers something (no fall-through, no jump out of the program), and
        // only the profile's syscalls are allowed.
        for number in 0..1024 {
            let answer = run(&program, X86_64, number, none);
            assert!([ALLOW, EPERM, ENOSYS].contains(&answer), "{number}: {answer:#x}");
            let name = syscalls::TABLE.iter().find(|(_, n)| *n == number).map(|(name, _)| *name);
            if answer == ALLOW {
                assert!(name.is_some_and(|n| DOCKER_DEFAULT.contains(&format!("\"{n}\""))), "{number} allowed");
            }
        }

        let admin = build(resolved(DOCKER_DEFAULT, &amd64(caps::all_mask())), X86_64).unwrap();
        assert_eq!(run(&admin, X86_64, nr("clone3"), none), ALLOW);
        assert_eq!(run(&admin, X86_64, nr("clone"), [libc::CLONE_NEWUSER as u64, 0, 0, 0, 0, 0]), ALLOW);
        assert_eq!(run(&admin, X86_64, nr("mount"), none), ALLOW);
        assert_eq!(run(&admin, X86_64, nr("keyctl"), none), EPERM);
    }

    #[test]
    fn deny_lists_and_big_leaves_compile_too() {
        let deny = r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
            {"names": ["keyctl"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38},
            {"names": ["kill"], "action": "SCMP_ACT_KILL_PROCESS", "args": [{"index": 1, "value": 9, "op": "SCMP_CMP_EQ"}]}]}"#;
        let program = build(resolved(deny, &amd64(0)), X86_64).unwrap();
        assert_eq!(run(&program, X86_64, nr("keyctl"), [0; 6]), ENOSYS);
        assert_eq!(run(&program, X86_64, nr("read"), [0; 6]), ALLOW);
        assert_eq!(run(&program, X86_64, nr("kill"), [1, 9, 0, 0, 0, 0]), RET_KILL_PROCESS);
        assert_eq!(run(&program, X86_64, nr("kill"), [1, 15, 0, 0, 0, 0]), ALLOW);
        // A leaf longer than a conditional jump reaches (255 instructions) still works.
        let many: Vec<String> =
            (0..120).map(|v| format!(r#"{{"index": 0, "value": {v}, "op": "SCMP_CMP_EQ"}}"#)).collect();
        let rules: Vec<String> = many
            .iter()
            .map(|a| format!(r#"{{"names": ["ioctl"], "action": "SCMP_ACT_ALLOW", "args": [{a}]}}"#))
            .collect();
        let big = format!(
            r#"{{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{}, {{"names": ["read", "write"], "action": "SCMP_ACT_ALLOW"}}]}}"#,
            rules.join(",")
        );
        let program = build(resolved(&big, &amd64(0)), X86_64).unwrap();
        assert!(program.len() > 255, "{}", program.len());
        assert_eq!(run(&program, X86_64, nr("ioctl"), [119, 0, 0, 0, 0, 0]), ALLOW);
        assert_eq!(run(&program, X86_64, nr("ioctl"), [120, 0, 0, 0, 0, 0]), EPERM);
        assert_eq!(run(&program, X86_64, nr("write"), [0; 6]), ALLOW);
        // Nothing to filter: no program at all.
        assert!(compile(r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": []}"#, 0).unwrap().is_empty());
        assert_eq!(compile(DOCKER_DEFAULT, caps::default_mask()).unwrap().len(), 1);
    }

    #[test]
    fn the_default_profile_compiles_to_one_program_the_kernel_takes_for_any_capabilities() {
        // The kernel refuses a classic BPF program of more than BPF_MAXINSNS instructions. (How
        // fast the profile compiles is part of every container start: bench/run measures that.)
        const BPF_MAXINSNS: usize = 4096;
        for capabilities in [0, caps::default_mask(), caps::all_mask()] {
            let programs = compile(DOCKER_DEFAULT, capabilities).unwrap();
            assert_eq!(programs.len(), 1, "capabilities {capabilities:x}");
            assert!(programs[0].len() <= BPF_MAXINSNS, "{} instructions", programs[0].len());
        }
    }
}
