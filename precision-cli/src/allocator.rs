//! The C allocator's settings for this process. glibc's malloc gives threads that allocate at
//! the same time arenas of their own (up to eight per core), and memory freed in such an arena
//! mostly stays resident. With `--jobs`, each parallel check creates its ONNX Runtime session
//! on a thread of its own, so the sessions' transient buffers piled up in separate arenas: on
//! a ResNet-50-sized model, `bisect --jobs 2` peaked at 2.1x the memory of `precision run`,
//! and at 1.5x with one arena for the whole process.
//!
//! One arena for several threads that allocate at once is worse on a dataset, though: with two
//! checks each streaming 1,000 samples of 0.6 MB through ONNX Runtime (whose CPU arena is off,
//! so its buffers come from malloc too), the shared heap fragmented and grew in 5 of 7 runs of
//! `bisect --jobs 2`, to 2.0-6.0 GB instead of 0.1 GB; with two arenas it still reached
//! 0.68 GB. With one arena per allocating thread (the main thread and each of the `--jobs`
//! checks) it stayed near 0.12 GB in most runs, so that is the limit: `jobs + 1`, one arena
//! when nothing runs in parallel. It was not a cure: 4 of 7 such runs still grew to 2.5-3.2 GB.
//! What cured it is ONNX Runtime's own CPU arena, which the ONNX Runtime backend turns on when
//! each check runs several samples (`ExecutionSettings::cpu_arena`), so that the buffers of one
//! sample are reused for the next instead of going through malloc.

/// Limits glibc's malloc to `jobs + 1` arenas (one per thread that runs a check, plus the main
/// thread), unless the user chose a limit with `MALLOC_ARENA_MAX`. Call it before the checks'
/// threads exist (arenas already made stay).
pub fn limit_arenas(jobs: usize) {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    if std::env::var_os("MALLOC_ARENA_MAX").is_none() {
        let arenas = libc::c_int::try_from(jobs.saturating_add(1)).unwrap_or(libc::c_int::MAX);
        #[allow(unsafe_code, reason = "one call into the C library's malloc settings")]
        // SAFETY: mallopt only sets a parameter of the allocator; M_ARENA_MAX takes any
        // positive count, and glibc reads it under its own lock when it makes an arena.
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, arenas);
        }
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    let _ = jobs;
}
