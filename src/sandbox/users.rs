//! Resolves a container's `--user` against the container's own /etc/passwd and /etc/group, with
//! the rules of runc's user.GetExecUser (which Docker uses).

use super::process::SandboxError;

/// Who the container process runs as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecUser {
    pub uid: u32,
    pub gid: u32,
    /// Supplementary groups: every group of /etc/group that lists the user by name, when no
    /// group was given explicitly.
    pub additional_gids: Vec<u32>,
    /// From passwd; "/" when the user has no entry.
    pub home: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct PasswdEntry<'a> {
    name: &'a str,
    uid: u32,
    gid: u32,
    home: &'a str,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct GroupEntry<'a> {
    name: &'a str,
    gid: u32,
    members: Vec<&'a str>,
}

/// Lines of an /etc file split at ':'; blank lines, comments and NIS (+/-) lines skipped.
fn records(text: &str) -> impl Iterator<Item = Vec<&str>> {
    text.lines()
        .map(str::trim_end)
        .filter(|line| !line.is_empty() && !line.starts_with(['#', '+', '-']))
        .map(|line| line.split(':').collect())
}

fn passwd_entries(text: &str) -> impl Iterator<Item = PasswdEntry<'_>> {
    records(text).filter_map(|f| {
        Some(PasswdEntry {
            name: f.first()?,
            uid: f.get(2)?.parse().ok()?,
            gid: f.get(3)?.parse().ok()?,
            home: f.get(5).copied().unwrap_or(""),
        })
    })
}

fn group_entries(text: &str) -> impl Iterator<Item = GroupEntry<'_>> {
    records(text).filter_map(|f| {
        let members = f.get(3).map_or(Vec::new(), |m| m.split(',').map(str::trim).filter(|m| !m.is_empty()).collect());
        Some(GroupEntry { name: f.first()?, gid: f.get(2)?.parse().ok()?, members })
    })
}

/// Resolves `user` ("", "name", "uid", "uid:gid", "name:group", …) against the texts of the
/// container's /etc/passwd and /etc/group (empty when the files are missing). "" means root.
pub fn resolve_user(user: &str, passwd: &str, group: &str) -> Result<ExecUser, SandboxError> {
    let (user_part, group_part) = match user.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (user, None),
    };
    let user_part = if user_part.is_empty() { "0" } else { user_part };
    let numeric_uid: Option<u32> = user_part.parse().ok();

    let entry = passwd_entries(passwd).find(|e| e.name == user_part || Some(e.uid) == numeric_uid);
    let (mut resolved, name) = match (entry, numeric_uid) {
        (Some(e), _) => (
            ExecUser { uid: e.uid, gid: e.gid, additional_gids: Vec::new(), home: non_empty_home(e.home) },
            Some(e.name),
        ),
        (None, Some(uid)) => (ExecUser { uid, gid: 0, additional_gids: Vec::new(), home: "/".into() }, None),
        (None, None) => return Err(SandboxError::UnknownUser(user_part.to_owned())),
    };

    match group_part.filter(|g| !g.is_empty()) {
        Some(group_arg) => {
            let numeric_gid: Option<u32> = group_arg.parse().ok();
            let found = group_entries(group)
                .find(|g| match numeric_gid {
                    Some(gid) => g.gid == gid,
                    None => g.name == group_arg,
                })
                .map(|g| g.gid);
            resolved.gid = found.or(numeric_gid).ok_or_else(|| SandboxError::UnknownGroup(group_arg.to_owned()))?;
        }
        None => {
            if let Some(name) = name {
                resolved.additional_gids =
                    group_entries(group).filter(|g| g.members.contains(&name)).map(|g| g.gid).collect();
            }
        }
    }
    Ok(resolved)
}

/// A `--group-add` group: a name in the container's /etc/group, or a number.
pub fn resolve_group(group: &str, group_file: &str) -> Result<u32, SandboxError> {
    if let Some(entry) = group_entries(group_file).find(|g| g.name == group) {
        return Ok(entry.gid);
    }
    group.parse().map_err(|_| SandboxError::UnknownGroup(group.to_owned()))
}

fn non_empty_home(home: &str) -> String {
    if home.is_empty() { "/".into() } else { home.into() }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD: &str = "\
root:x:0:0:root:/root:/bin/sh
# a comment
daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin
broken:x:notanumber:1::/:/bin/sh
alice:x:1000:1000:Alice:/home/alice:/bin/sh
nohome:x:1001:1001::
";
    const GROUP: &str = "\
root:x:0:
tty:x:5:alice
wheel:x:10:root,alice
alice:x:1000:
staff:x:50: bob , alice
";

    fn user(uid: u32, gid: u32, additional: &[u32], home: &str) -> ExecUser {
        ExecUser { uid, gid, additional_gids: additional.to_vec(), home: home.into() }
    }

    #[test]
    fn empty_user_is_root_with_roots_groups() {
        assert_eq!(resolve_user("", PASSWD, GROUP).unwrap(), user(0, 0, &[10], "/root"));
        assert_eq!(resolve_user("", "", "").unwrap(), user(0, 0, &[], "/"));
    }

    #[test]
    fn names_and_numbers_find_passwd_entries() {
        assert_eq!(resolve_user("alice", PASSWD, GROUP).unwrap(), user(1000, 1000, &[5, 10, 50], "/home/alice"));
        assert_eq!(resolve_user("1000", PASSWD, GROUP).unwrap(), user(1000, 1000, &[5, 10, 50], "/home/alice"));
        assert_eq!(resolve_user("daemon", PASSWD, GROUP).unwrap(), user(1, 1, &[], "/usr/sbin"));
        assert_eq!(resolve_user("nohome", PASSWD, GROUP).unwrap(), user(1001, 1001, &[], "/"));
    }

    #[test]
    fn unknown_numeric_user_gets_gid_0_and_home_slash() {
        assert_eq!(resolve_user("4242", PASSWD, GROUP).unwrap(), user(4242, 0, &[], "/"));
        assert_eq!(resolve_user("4242:4343", PASSWD, GROUP).unwrap(), user(4242, 4343, &[], "/"));
    }

    #[test]
    fn explicit_groups_replace_the_gid_and_drop_supplementary_groups() {
        assert_eq!(resolve_user("alice:wheel", PASSWD, GROUP).unwrap(), user(1000, 10, &[], "/home/alice"));
        assert_eq!(resolve_user("alice:5", PASSWD, GROUP).unwrap(), user(1000, 5, &[], "/home/alice"));
        assert_eq!(resolve_user("0:staff", PASSWD, GROUP).unwrap(), user(0, 50, &[], "/root"));
        assert_eq!(resolve_user(":10", PASSWD, GROUP).unwrap(), user(0, 10, &[], "/root"));
        assert_eq!(resolve_user("alice:", PASSWD, GROUP).unwrap(), user(1000, 1000, &[5, 10, 50], "/home/alice"));
    }

    #[test]
    fn unknown_names_are_errors() {
        let err = resolve_user("bob", PASSWD, GROUP).unwrap_err();
        assert_eq!(err.to_string(), "unable to find user bob: no matching entries in passwd file");
        assert_eq!(err.exit_code(), 125);
        let err = resolve_user("alice:nogroup", PASSWD, GROUP).unwrap_err();
        assert_eq!(err.to_string(), "unable to find group nogroup: no matching entries in group file");
        assert!(resolve_user("broken", PASSWD, GROUP).is_err());
        assert!(resolve_user("root", "", "").is_err());
    }
}
