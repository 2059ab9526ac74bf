use anyhow::Result;
use clap::Args;
use serde_json::json;

use super::Ctx;
use crate::sandbox::userns::{IdMapping, mapping_for_caller};

#[derive(Args, Debug)]
pub struct InfoArgs {
    /// Output format: json or a Go template
    #[arg(short, long)]
    pub format: Option<String>,
}

/// "v2" (unified), "v1" (legacy or hybrid) — from what is mounted at /sys/fs/cgroup.
pub fn cgroup_version() -> &'static str {
    match crate::sandbox::cgroup::detect() {
        crate::sandbox::cgroup::CgroupVersion::V2 => "v2",
        crate::sandbox::cgroup::CgroupVersion::V1 => "v1",
    }
}

pub fn run(ctx: &Ctx, args: InfoArgs) -> Result<u8> {
    let settings = &ctx.settings;
    let store = ctx.store()?;
    let images = {
        let _lock = store.lock_images_shared()?;
        store.images()?.images.len()
    };
    let mapping = if settings.rootless { Some(mapping_for_caller()) } else { None };
    let id_mapping = match &mapping {
        None => "none (running as root)".to_owned(),
        Some(m) => m.describe(),
    };
    let value = json!({
        "Version": env!("CARGO_PKG_VERSION"),
        "Rootless": settings.rootless,
        "IdMapping": id_mapping,
        "SingleIdMapping": matches!(mapping, Some(IdMapping::SingleId)),
        "StoreRoot": settings.root,
        "RunRoot": settings.runroot,
        "StorageDriver": "overlay",
        "OverlayXattrs": store.overlay_xattr_prefix().trim_end_matches('.'),
        "CgroupVersion": cgroup_version(),
        "Images": images,
        "SearchRegistries": settings.search_registries,
        "InsecureRegistries": settings.insecure_registries,
        "ParallelDownloads": settings.parallel_downloads,
        "ConfigFiles": settings.config_files,
        "Kernel": nix::sys::utsname::uname().map(|u| u.release().to_string_lossy().into_owned()).unwrap_or_default(),
    });
    match args.format.as_deref() {
        Some("json") => println!("{}", serde_json::to_string_pretty(&value)?),
        Some(f) => println!("{}", super::template::Template::parse(f)?.render(&value)?),
        None => {
            println!("Version:            {}", env!("CARGO_PKG_VERSION"));
            println!("Rootless:           {}", settings.rootless);
            println!("ID mapping:         {id_mapping}");
            println!("Store root:         {}", settings.root.display());
            println!("Run root:           {}", settings.runroot.display());
            println!("Storage driver:     overlay (native, {} xattrs)", value["OverlayXattrs"].as_str().unwrap_or(""));
            println!("Cgroup version:     {}", cgroup_version());
            println!("Images:             {images}");
            println!("Search registries:  {}", settings.search_registries.join(", "));
            println!(
                "Insecure registries: {}",
                if settings.insecure_registries.is_empty() {
                    "(loopback only)".to_owned()
                } else {
                    settings.insecure_registries.join(", ")
                }
            );
            println!("Parallel downloads: {}", settings.parallel_downloads);
            println!("Kernel:             {}", value["Kernel"].as_str().unwrap_or(""));
        }
    }
    Ok(0)
}
