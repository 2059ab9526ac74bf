//! What a pulled image carries into the store and into its containers: its config (Cmd, Env,
//! Labels) and the special files of its layers.

use std::os::unix::fs::{FileTypeExt, MetadataExt};

use crate::util::{BuiltImage, Compression, OciImageBuilder, Registry, TarEntry, TestEnv, require_root};

/// Pulls `image` as `repo:tag` from a fresh registry into a fresh environment; returns both and
/// the name pulled.
fn pulled(image: &BuiltImage, repo: &str, tag: &str) -> (Registry, TestEnv, String) {
    let registry = Registry::start();
    registry.push(image, repo, tag);
    let env = TestEnv::new();
    let name = registry.image(&format!("{repo}:{tag}"));
    env.berth_ok(&["pull", "-q", &name]);
    (registry, env, name)
}

/// The config of a pulled image is what inspect shows and what a container of it starts with.
#[test]
fn a_pulled_images_cmd_env_and_labels_are_kept_and_used() {
    let image = OciImageBuilder::busybox()
        .cmd(&["sh", "-c", "echo \"$GREETING\"; id -un"])
        .env("GREETING=hello from the config")
        .label("org.example.tier", "front")
        .build();
    let (_registry, env, name) = pulled(&image, "tests/configured", "1");
    let inspect = env.inspect_json(&name);
    assert_eq!(inspect["Config"]["Cmd"], serde_json::json!(["sh", "-c", "echo \"$GREETING\"; id -un"]));
    let env_list = inspect["Config"]["Env"].as_array().expect("Env");
    assert!(env_list.contains(&serde_json::json!("GREETING=hello from the config")), "{env_list:?}");
    assert_eq!(inspect["Config"]["Labels"], serde_json::json!({"org.example.tier": "front"}));
    assert_eq!(env.inspect(&name, "{{json .Config.Labels}}"), r#"{"org.example.tier":"front"}"#);
    if !require_root("running a container of the pulled image") {
        return;
    }
    assert_eq!(env.berth_ok(&["run", "--rm", &name]), "hello from the config\nroot\n");
    assert_eq!(env.berth_ok(&["run", "--rm", "-e", "GREETING=overridden", &name]), "overridden\nroot\n");
}

/// A fifo and a character device in a layer arrive as a fifo and a device (root: mknod works),
/// in the layer and in a container's view of it.
#[test]
fn special_files_in_a_pulled_layer_stay_special() {
    if !require_root("unpacking device nodes needs mknod") {
        return;
    }
    let image = OciImageBuilder::busybox()
        .layer_entries(
            vec![
                TarEntry::dir("opt"),
                TarEntry::CharDevice { path: "opt/null".into(), major: 1, minor: 3 },
                TarEntry::Fifo { path: "opt/pipe".into() },
            ],
            Compression::Gzip,
        )
        .build();
    let (_registry, env, name) = pulled(&image, "tests/special", "1");
    let diff = env.layer_diff(&image.chain_ids()[1]);
    let null = std::fs::symlink_metadata(diff.join("opt/null")).expect("opt/null");
    assert!(null.file_type().is_char_device(), "{null:?}");
    assert_eq!((libc::major(null.rdev()), libc::minor(null.rdev())), (1, 3));
    assert!(std::fs::symlink_metadata(diff.join("opt/pipe")).expect("opt/pipe").file_type().is_fifo());
    env.assert_store_ok();
    let out = env.berth_ok(&["run", "--rm", &name, "stat", "-c", "%F %t:%T", "/opt/null", "/opt/pipe"]);
    assert_eq!(out, "character special file 1:3\nfifo 0:0\n");
}
