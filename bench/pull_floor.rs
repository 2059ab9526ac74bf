//! The least CPU work a pull of the given gzip layer blobs must do, timed: for every layer at
//! once, the blob's sha256, decompression, and the sha256 of the tar (the diff id), with the
//! same libraries berth uses (flate2 on zlib-rs, sha2 with SHA-NI). Nothing is downloaded and
//! nothing is written; the blobs are read into memory before the clock starts. `bench/pull`
//! prints it beside berth's and podman's times: no pull on this machine can be faster.
//!
//! Usage: cargo run --release --example pull_floor -- BLOB...

use std::io::Read;
use std::sync::Arc;
use std::sync::mpsc::{channel, sync_channel};
use std::thread;
use std::time::Instant;

use sha2::{Digest, Sha256};

const CHUNK: usize = 256 << 10;

/// The three stages of one layer on their own threads, as in a pull; the tar's size.
fn digest_and_decompress(blob: Arc<Vec<u8>>) -> usize {
    let blob_hasher = {
        let blob = Arc::clone(&blob);
        thread::spawn(move || Sha256::digest(&blob[..]))
    };
    let (tar_tx, tar_rx) = sync_channel::<Vec<u8>>(64);
    let (spent_tx, spent_rx) = channel::<Vec<u8>>();
    let tar_hasher = thread::spawn(move || {
        let (mut hasher, mut size) = (Sha256::new(), 0);
        for chunk in tar_rx {
            hasher.update(&chunk);
            size += chunk.len();
            let _ = spent_tx.send(chunk);
        }
        (hasher.finalize(), size)
    });
    let mut decoder = flate2::read::MultiGzDecoder::new(&blob[..]);
    loop {
        // Recycled buffers: a pull reuses its memory too.
        let mut chunk = spent_rx.try_recv().unwrap_or_default();
        chunk.resize(CHUNK, 0);
        let n = decoder.read(&mut chunk).expect("a gzip blob");
        if n == 0 {
            break;
        }
        chunk.truncate(n);
        tar_tx.send(chunk).expect("the tar hasher runs");
    }
    drop(tar_tx);
    blob_hasher.join().expect("blob hasher");
    tar_hasher.join().expect("tar hasher").1
}

fn cpu_seconds() -> f64 {
    let usage = nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_SELF).expect("getrusage");
    let seconds = |t: nix::sys::time::TimeVal| t.tv_sec() as f64 + t.tv_usec() as f64 / 1e6;
    seconds(usage.user_time()) + seconds(usage.system_time())
}

fn main() {
    let blobs: Vec<Arc<Vec<u8>>> =
        std::env::args().skip(1).map(|path| Arc::new(std::fs::read(&path).expect("reading a blob"))).collect();
    assert!(!blobs.is_empty(), "usage: pull_floor BLOB...");
    let (start, cpu_before) = (Instant::now(), cpu_seconds());
    let layers: Vec<_> = blobs.into_iter().map(|blob| thread::spawn(move || digest_and_decompress(blob))).collect();
    let tar_bytes: usize = layers.into_iter().map(|layer| layer.join().expect("layer")).sum();
    let (wall, cpu) = (start.elapsed().as_secs_f64(), cpu_seconds() - cpu_before);
    println!("{wall:.3} {cpu:.3} {}", tar_bytes >> 20);
}
