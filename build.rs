//! Links berth as a position-dependent executable. A PIE is relocated at every start, and the
//! relocated read-only data (~230 KB here) becomes private memory in every process, one
//! supervisor per running container included; without PIE those pages stay shared file pages
//! that a settled supervisor gives back (see `sandbox::memory`). Libraries, heap and stack are
//! still placed at random.
fn main() {
    println!("cargo:rustc-link-arg-bins=-no-pie");
}
