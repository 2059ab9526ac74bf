use anyhow::Result;
use clap::Args;
use serde_json::json;

use super::Ctx;

#[derive(Args, Debug)]
pub struct VersionArgs {
    /// Output format: json or a Go template
    #[arg(short, long)]
    pub format: Option<String>,
}

pub fn run(_ctx: &Ctx, args: VersionArgs) -> Result<u8> {
    let value = json!({
        "Client": {
            "Version": env!("CARGO_PKG_VERSION"),
            "Os": std::env::consts::OS,
            "Arch": crate::image::spec::host_platform().architecture,
            "Daemonless": true,
        }
    });
    match args.format.as_deref() {
        Some("json") => println!("{}", serde_json::to_string_pretty(&value)?),
        Some(f) => println!("{}", super::template::Template::parse(f)?.render(&value)?),
        None => {
            println!("Client:");
            println!(" Version:    {}", env!("CARGO_PKG_VERSION"));
            println!(" OS/Arch:    {}/{}", std::env::consts::OS, crate::image::spec::host_platform().architecture);
            println!(" Daemonless: true (no server: every command works on the store directly)");
        }
    }
    Ok(0)
}
