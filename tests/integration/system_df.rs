//! `system df` (summary, -v, --format json) and `system prune`: what was made is what is counted,
//! and prune removes what Docker's would, leaving running containers and their images. Root
//! (containers) and Debian's busybox-static.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::util::{ContainerEnv, root_with_busybox};

/// Docker's units.HumanSize ("%.4g" of decimal units), the oracle for sizes in bytes.
fn go_size(bytes: u64) -> String {
    let units = ["B", "kB", "MB", "GB", "TB"];
    let (mut value, mut unit) = (bytes as f64, 0);
    while value >= 1000.0 && unit < units.len() - 1 {
        value /= 1000.0;
        unit += 1;
    }
    let integer_digits = if value < 1.0 { 1 } else { value.log10().floor() as usize + 1 };
    let text = format!("{value:.*}", 4usize.saturating_sub(integer_digits));
    let text = if text.contains('.') { text.trim_end_matches('0').trim_end_matches('.').to_owned() } else { text };
    format!("{text}{}", units[unit])
}

/// `system df --format json`: type → row.
fn df(env: &ContainerEnv) -> BTreeMap<String, Value> {
    env.berth_ok(&["system", "df", "--format", "json"])
        .lines()
        .map(|l| {
            let row: Value = serde_json::from_str(l).unwrap();
            (row["Type"].as_str().unwrap().to_owned(), row)
        })
        .collect()
}

fn field<'a>(rows: &'a BTreeMap<String, Value>, kind: &str, key: &str) -> &'a str {
    rows[kind][key].as_str().unwrap_or_else(|| panic!("{kind} has no {key}: {rows:?}"))
}

/// A running container "keep", an exited one "wrote" that wrote 100000 bytes, its commit
/// "dfcommit" (the busybox layer shared with "dfbox"), and volume "v1" holding 5000 bytes.
fn setup(what: &str) -> Option<ContainerEnv> {
    let env = root_with_busybox(what, "dfbox")?;
    env.berth_ok(&["run", "-d", "--name", "keep", "dfbox", "sleep", "1000"]);
    env.berth_ok(&["run", "--name", "wrote", "dfbox", "sh", "-c", "head -c 100000 /dev/zero > /data"]);
    env.berth_ok(&["commit", "wrote", "dfcommit"]);
    env.berth_ok(&["volume", "create", "v1"]);
    env.berth_ok(&["run", "--rm", "-v", "v1:/v", "dfbox", "sh", "-c", "head -c 5000 /dev/zero > /v/f"]);
    Some(env)
}

fn bytes(env: &ContainerEnv, image: &str) -> u64 {
    env.inspect(image, "{{.Size}}").parse().unwrap()
}

#[test]
fn df_counts_what_was_made_and_shared_layers_once() {
    let Some(env) = setup("system df needs containers") else { return };
    let rows = df(&env);
    assert_eq!(rows.keys().collect::<Vec<_>>(), ["Build Cache", "Containers", "Images", "Local Volumes"]);
    let (base, both) = (bytes(&env, "dfbox"), bytes(&env, "dfcommit"));
    assert!(both > base + 100_000, "the commit holds the written file: {base} {both}");
    assert_eq!(field(&rows, "Images", "TotalCount"), "2");
    assert_eq!(field(&rows, "Images", "Active"), "1", "keep and wrote use dfbox");
    // The busybox layer once, not once per image.
    assert_eq!(field(&rows, "Images", "Size"), go_size(both));
    // Docker: the total less the unique bytes of used images (dfbox has none of its own).
    assert_eq!(field(&rows, "Images", "Reclaimable"), format!("{} (100%)", go_size(both)));
    assert_eq!(field(&rows, "Containers", "TotalCount"), "2");
    assert_eq!(field(&rows, "Containers", "Active"), "1");
    assert_eq!(field(&rows, "Containers", "Size"), "100kB");
    assert_eq!(field(&rows, "Containers", "Reclaimable"), "100kB (100%)");
    assert_eq!(field(&rows, "Local Volumes", "TotalCount"), "1");
    assert_eq!(field(&rows, "Local Volumes", "Active"), "0");
    assert_eq!(field(&rows, "Local Volumes", "Size"), "5kB");
    assert_eq!(field(&rows, "Local Volumes", "Reclaimable"), "5kB (100%)");
    assert_eq!(field(&rows, "Build Cache", "TotalCount"), "0");

    let table = env.berth_ok(&["system", "df"]);
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 5, "{table}");
    assert_eq!(lines[0].split_whitespace().collect::<Vec<_>>(), ["TYPE", "TOTAL", "ACTIVE", "SIZE", "RECLAIMABLE"]);
    assert!(lines[2].starts_with("Containers ") && lines[2].ends_with("100kB (100%)"), "{table}");
    let template = env.berth_ok(&["system", "df", "--format", "{{.Type}}={{.TotalCount}}/{{.Active}}"]);
    assert_eq!(template, "Images=2/1\nContainers=2/1\nLocal Volumes=1/0\nBuild Cache=0/0\n");

    let verbose = env.berth_ok(&["system", "df", "-v"]);
    for heading in
        ["Images space usage:", "Containers space usage:", "Local Volumes space usage:", "Build cache usage: 0B"]
    {
        assert!(verbose.lines().any(|l| l == heading), "{heading} missing in {verbose}");
    }
    let row = |first: &str| -> Vec<String> {
        let line = verbose.lines().find(|l| l.starts_with(first)).unwrap_or_else(|| panic!("no {first} in {verbose}"));
        line.split("   ").map(str::trim).filter(|c| !c.is_empty()).map(str::to_owned).collect()
    };
    let dfbox = row("localhost/dfbox ");
    // SIZE, SHARED SIZE, UNIQUE SIZE, CONTAINERS.
    assert_eq!(dfbox[5..], [go_size(base), "0B".to_owned(), "2".to_owned()], "{verbose}");
    assert_eq!(row("v1 "), ["v1", "0", "5kB"]);
    let wrote = verbose.lines().find(|l| l.ends_with(" wrote")).unwrap();
    assert!(wrote.contains("100kB"), "{wrote}");
    assert!(verbose.contains("VOLUME NAME   LINKS   SIZE"), "{verbose}");
}

#[test]
fn system_prune_removes_what_docker_would_and_keeps_what_runs() {
    let Some(env) = setup("system prune needs containers") else { return };
    env.berth_ok(&["network", "create", "dfnet"]);
    env.berth_ok(&["run", "--name", "anon", "-v", "/anon", "dfbox", "true"]);
    // Not a terminal and no -f: nothing is asked, nothing goes.
    let (code, err) = env.berth_err(&["system", "prune"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("not confirmed"), "{err}");
    assert_eq!(df(&env)["Containers"]["TotalCount"], "3");
    env.berth_fails_125(&["system", "prune", "-f", "--filter", "color=red"]);
    // Everything is younger than an hour, and nothing has the label: filters hold all back.
    for filter in ["until=1h", "label=nothere"] {
        let out = env.berth_ok(&["system", "prune", "-f", "-a", "--filter", filter]);
        assert_eq!(out, "Total reclaimed space: 0B\n", "{filter}");
    }
    env.berth_ok(&["run", "--name", "labelled", "--label", "tier=gone", "dfbox", "true"]);
    let out = env.berth_ok(&["system", "prune", "-f", "--filter", "label=tier=gone"]);
    assert!(out.starts_with("Deleted Containers:\n") && out.lines().count() == 4, "only the labelled one: {out}");
    assert_eq!(df(&env)["Containers"]["TotalCount"], "3");

    let out = env.berth_ok(&["system", "prune", "-f", "-a", "--volumes"]);
    assert!(out.starts_with("Deleted Containers:\n"), "{out}");
    assert!(out.contains("Deleted Networks:\ndfnet\n"), "{out}");
    assert!(out.contains("Deleted Images:\nuntagged: localhost/dfcommit:latest\ndeleted: sha256:"), "{out}");
    assert!(out.lines().last().unwrap().starts_with("Total reclaimed space: "), "{out}");
    let ps = env.berth_ok(&["ps", "-a", "--format", "{{.Names}}"]);
    assert_eq!(ps, "keep\n", "only the running container stays");
    let images = env.berth_ok(&["images", "--format", "{{.Repository}}"]);
    assert_eq!(images, "localhost/dfbox\n", "the running container's image stays");
    // --volumes takes anonymous volumes only; the named one stays.
    assert_eq!(env.berth_ok(&["volume", "ls", "-q"]), "v1\n");
    let rows = df(&env);
    assert_eq!((field(&rows, "Containers", "TotalCount"), field(&rows, "Images", "TotalCount")), ("1", "1"));
    env.assert_store_ok();
}

#[test]
fn df_and_prune_work_rootless() {
    let Some(env) = crate::util::TestEnv::rootless() else { return };
    let env = env.with_busybox("dfbox", &[], |_| {});
    env.berth_ok(&["run", "--name", "wrote", "dfbox", "sh", "-c", "head -c 3000 /dev/zero > /data"]);
    let rows = df(&env);
    assert_eq!(field(&rows, "Images", "TotalCount"), "1");
    assert_eq!(field(&rows, "Containers", "Size"), "3kB");
    let out = env.berth_ok(&["system", "prune", "-f"]);
    assert!(out.starts_with("Deleted Containers:\n"), "{out}");
    assert_eq!(field(&df(&env), "Containers", "TotalCount"), "0");
    env.assert_store_ok();
}
