//! Keep freed memory in the process: burn-flex allocates a fresh buffer for every tensor op,
//! and glibc's malloc serves buffers above its mmap threshold (128 KiB to start) with `mmap`
//! and hands them back on `free`, so every training step faults the same megabytes in again.
//! Profiled on the complex CNN, page faults took 13% of a step (`results/performance.md`).

/// Largest allocation glibc accepts as an `mmap` threshold (`HEAP_MAX_SIZE / 2` on 64-bit).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const MMAP_THRESHOLD: i32 = 32 << 20;

/// How much free memory at the top of the heap glibc may keep instead of returning it.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const TRIM_THRESHOLD: i32 = 1 << 30;

/// Tells glibc's malloc to serve allocations up to 32 MiB from its heap and to keep up to
/// 1 GiB of freed memory for reuse, instead of unmapping it. Process-wide; the examples call it
/// first thing (through [`crate::cli::run_example`]), a binary that depends on this crate may
/// too. Returns whether the settings took effect: `false` where the C library is not glibc
/// (nothing changes there; another allocator, e.g. a `#[global_allocator]`, is unaffected).
///
/// ```
/// let kept = mnist_lab::kernel::keep_freed_memory();
/// assert_eq!(kept, cfg!(all(target_os = "linux", target_env = "gnu")));
/// ```
pub fn keep_freed_memory() -> bool {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: `mallopt` only changes two of malloc's thresholds; glibc allows it at any
        // time, from any thread, and returns 0 for a value it refuses.
        unsafe {
            libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1
                && libc::mallopt(libc::M_TRIM_THRESHOLD, TRIM_THRESHOLD) == 1
        }
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    {
        false
    }
}
