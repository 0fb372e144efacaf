//! glibc's allocator, told to give memory back: the crate's only `unsafe`.
//!
//! By default glibc keeps what a burst freed: its mmap threshold grows to the largest block
//! ever freed (up to 32 MiB), so a `/metrics` scrape of 10,000 jobs' series or a root
//! overview moves those buffers into the heap for good, and pages freed inside an arena
//! stay resident. At 1,000 JobManagers that was a fifth of the RSS (docs/performance.md,
//! run 9). Elsewhere (musl, other systems) this does nothing.

use std::time::Duration;

/// Blocks of at least this size are mapped on their own and unmapped when freed.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const MMAP_THRESHOLD: libc::c_int = 128 * 1024;

/// How often freed pages inside the heap are handed back.
pub const TRIM_EVERY: Duration = Duration::from_secs(10);

/// Fixes the mmap threshold (which also stops it from growing) and the top-of-heap trim
/// threshold. Call once, early.
pub fn return_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets allocator parameters; it takes malloc's own locks.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD);
        libc::mallopt(libc::M_TRIM_THRESHOLD, MMAP_THRESHOLD);
    }
}

/// Hands back the free pages inside the heap every [`TRIM_EVERY`], for as long as the
/// process runs.
pub async fn trim_periodically() {
    let mut ticks = tokio::time::interval(TRIM_EVERY);
    loop {
        ticks.tick().await;
        trim();
    }
}

/// Hands back the free pages inside the heap now: after work that freed a lot of small
/// blocks at once (a `/metrics` scrape builds a row for every job).
pub fn trim() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim takes malloc's locks; it is safe to call from any thread.
    unsafe {
        libc::malloc_trim(0);
    }
}
