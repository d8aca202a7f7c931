//! Keep freed memory in the process: burn-flex allocates a fresh buffer for every tensor op,
//! and glibc's malloc serves buffers above its mmap threshold (128 KiB to start) with `mmap`
//! and hands them back on `free`, so every training step faults the same megabytes in again.
//! Profiled on the complex CNN, page faults took 13% of a step (`results/performance.md`).

// Only glibc on a 64-bit target: on 32-bit glibc the largest mmap threshold it accepts is
// 512 KiB (`HEAP_MAX_SIZE / 2`), so 32 MiB would be refused.

/// Largest allocation glibc accepts as an `mmap` threshold on 64-bit (`HEAP_MAX_SIZE / 2`).
#[cfg(all(target_os = "linux", target_env = "gnu", target_pointer_width = "64"))]
const MMAP_THRESHOLD: i32 = 32 << 20;

/// How much free memory at the top of the heap glibc may keep instead of returning it.
#[cfg(all(target_os = "linux", target_env = "gnu", target_pointer_width = "64"))]
const TRIM_THRESHOLD: i32 = 1 << 30;

/// Whether [`keep_freed_memory`] applies on this target: glibc on 64-bit Linux.
pub const KEEPS_FREED_MEMORY: bool = cfg!(all(
    target_os = "linux",
    target_env = "gnu",
    target_pointer_width = "64"
));

/// Tells glibc's malloc to serve allocations up to 32 MiB from its heap and to keep up to
/// 1 GiB of freed memory for reuse, instead of unmapping it. Process-wide, and idempotent: call
/// it once before training (mnist-lab's trainer and evaluation do, so their users need not). The two settings are made independently; returns whether both took effect. Where
/// [`KEEPS_FREED_MEMORY`] is false (not glibc, or a 32-bit target) nothing changes and it
/// returns `false`; another allocator (a `#[global_allocator]`) is unaffected either way.
///
/// ```
/// let kept = flex_kernels::keep_freed_memory();
/// assert_eq!(kept, flex_kernels::KEEPS_FREED_MEMORY);
/// ```
pub fn keep_freed_memory() -> bool {
    #[cfg(all(target_os = "linux", target_env = "gnu", target_pointer_width = "64"))]
    {
        // SAFETY: `mallopt` only changes one of malloc's thresholds; glibc allows it at any
        // time, from any thread, and returns 0 for a value it refuses.
        let mmap = unsafe { libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD) } == 1;
        // SAFETY: as above.
        let trim = unsafe { libc::mallopt(libc::M_TRIM_THRESHOLD, TRIM_THRESHOLD) } == 1;
        mmap && trim
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu", target_pointer_width = "64")))]
    {
        false
    }
}
