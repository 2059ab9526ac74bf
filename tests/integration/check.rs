//! `system check` reads unpacked layers (issue 10, D5): a layer whose files were damaged after
//! it was unpacked (what a power loss can do: unpacked files are not fsynced) is found and
//! named with the path, `--quick` checks metadata only, `--repair` removes the layer and the
//! images that need it, and the image pulled again runs.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use crate::util::{Compression, OciImageBuilder, Registry, TarEntry, TestEnv, require_root};

/// `system check` (with `flags`): exit code and stdout.
fn check(env: &TestEnv, flags: &[&str]) -> (i32, String) {
    let mut args = vec!["system", "check"];
    args.extend_from_slice(flags);
    let out = env.berth(&args);
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stdout).into_owned())
}

type Damage = fn(&Path);

#[test]
fn a_damaged_unpacked_layer_is_found_repaired_and_pulled_again() {
    if !require_root("running the image after the repair") {
        return;
    }
    let image = OciImageBuilder::busybox()
        .layer_entries(
            vec![
                TarEntry::dir("app"),
                TarEntry::file("app/data", "original\n"),
                TarEntry::file_mode("app/tool", 0o755, "#!/bin/sh\necho tool\n"),
                TarEntry::file("app/other", "other\n"),
            ],
            Compression::Gzip,
        )
        .build();
    let registry = Registry::start();
    registry.push(&image, "tests/check", "v1");
    let name = registry.image("tests/check:v1");
    let env = TestEnv::new();
    env.berth_ok(&["pull", &name]);
    env.assert_store_ok();
    let chain = image.chain_ids()[1].clone();
    let damages: [(&str, Damage, &str, &str); 4] = [
        (
            "content",
            |diff| std::fs::write(diff.join("app/data"), "ORIGINAL\n").unwrap(),
            "/app/data",
            "content differs",
        ),
        (
            "mode",
            |diff| std::fs::set_permissions(diff.join("app/tool"), std::fs::Permissions::from_mode(0o600)).unwrap(),
            "/app/tool",
            "mode 600 where the layer's tar has 755",
        ),
        ("extra file", |diff| std::fs::write(diff.join("app/extra"), "x").unwrap(), "/app/extra", "does not have"),
        ("missing file", |diff| std::fs::remove_file(diff.join("app/other")).unwrap(), "/app/other", "missing"),
    ];
    for (what, damage, path, expected) in damages {
        damage(&env.layer_diff(&chain));
        let (code, out) = check(&env, &[]);
        assert_eq!(code, 1, "{what}: check should fail:\n{out}");
        let line = format!("layer {chain}: {path}: ");
        assert!(
            out.lines().any(|l| l.starts_with(&line) && l.contains(expected)),
            "{what}: want {line}…{expected}:\n{out}"
        );
        assert!(out.contains("image "), "{what}: the image needing the layer is named:\n{out}");
        // Metadata only: nothing to see.
        let (code, out) = check(&env, &["--quick"]);
        assert_eq!((code, out.contains(": 0 problems")), (0, true), "{what}: --quick:\n{out}");
        let (code, out) = check(&env, &["--repair"]);
        assert_eq!(code, 0, "{what}: --repair:\n{out}");
        assert!(out.contains(&format!("repaired: removed layer {chain}")), "{what}:\n{out}");
        env.assert_store_ok();
        assert!(!env.berth_ok(&["images", "-q"]).contains(&image.id()[7..19]), "{what}: the image is gone");
        // Pulled again, the image is whole and runs.
        let out = env.berth_ok(&["run", "--rm", &name, "sh", "-c", "cat /app/data /app/other; /app/tool"]);
        assert_eq!(out, "original\nother\ntool\n", "{what}");
        env.assert_store_ok();
    }
}

#[test]
fn a_rootless_store_verifies_clean_and_damage_is_found() {
    let Some(env) = TestEnv::rootless() else { return };
    let image = OciImageBuilder::busybox()
        .layer_entries(vec![TarEntry::dir("app"), TarEntry::file("app/data", "original\n")], Compression::Zstd)
        .build();
    let registry = Registry::start();
    registry.push(&image, "tests/check", "rootless");
    env.berth_ok(&["pull", &registry.image("tests/check:rootless")]);
    env.assert_store_ok();
    let chain = image.chain_ids()[1].clone();
    // As root, from outside: what a crash could leave.
    std::fs::write(env.layer_diff(&chain).join("app/data"), "truncat").unwrap();
    let (code, out) = check(&env, &[]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains(&format!("layer {chain}: /app/data: 7 bytes where the layer's tar has 9")), "{out}");
    let (code, out) = check(&env, &["--repair"]);
    assert_eq!(code, 0, "{out}");
    env.assert_store_ok();
}
