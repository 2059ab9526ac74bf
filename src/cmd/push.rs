//! `berth push`: send an image (or every tag of its repository) to its registry, printing
//! Docker's lines; a failed push exits 1, as Docker's does.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Args, ValueEnum};

use super::Ctx;
use crate::image::push::{Format, PushRequest, push};
use crate::image::registry::CredentialSource;
use crate::image::spec::Compression;

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum FormatArg {
    Oci,
    V2s2,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum CompressionArg {
    Gzip,
    Zstd,
}

#[derive(Args, Debug)]
pub struct PushArgs {
    /// Push all tags of the image's repository
    #[arg(short, long)]
    pub all_tags: bool,
    /// Manifest format to push (default: as stored)
    #[arg(long, value_enum, value_name = "FORMAT")]
    pub format: Option<FormatArg>,
    /// Compression for layers stored uncompressed (pulled layers are never recompressed)
    #[arg(long, value_enum, default_value = "gzip", value_name = "FORMAT")]
    pub compression_format: CompressionArg,
    /// Write the pushed manifest's digest to this file
    #[arg(long, value_name = "FILE")]
    pub digestfile: Option<PathBuf>,
    /// Require HTTPS and verify certificates (false: plain HTTP to this registry)
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, value_name = "BOOL")]
    pub tls_verify: bool,
    /// Credentials file (default: berth's auth.json, then ~/.docker/config.json)
    #[arg(long, value_name = "FILE")]
    pub authfile: Option<PathBuf>,
    /// Print nothing but errors
    #[arg(short, long)]
    pub quiet: bool,
    /// Image to push: NAME[:TAG]
    pub image: String,
}

pub fn run(ctx: &Ctx, args: PushArgs) -> Result<u8> {
    let credentials = CredentialSource::new(args.authfile.as_deref());
    let request = PushRequest {
        image: &args.image,
        all_tags: args.all_tags,
        format: args.format.map(|f| match f {
            FormatArg::Oci => Format::Oci,
            FormatArg::V2s2 => Format::V2s2,
        }),
        compression: match args.compression_format {
            CompressionArg::Gzip => Compression::Gzip,
            CompressionArg::Zstd => Compression::Zstd,
        },
        credentials: &credentials,
        tls_verify: args.tls_verify,
    };
    let quiet = args.quiet;
    let report = move |line: &str| {
        if !quiet {
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{line}");
            let _ = out.flush();
        }
    };
    let pushed =
        push(ctx.store()?, &ctx.settings, &request, &report).with_context(|| format!("pushing {}", args.image))?;
    if let (Some(file), Some(last)) = (&args.digestfile, pushed.last()) {
        std::fs::write(file, last.digest.as_str()).with_context(|| format!("writing {}", file.display()))?;
    }
    Ok(0)
}
