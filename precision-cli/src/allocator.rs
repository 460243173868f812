//! The C allocator's settings for this process. glibc's malloc gives threads that allocate at
//! the same time arenas of their own (up to eight per core), and memory freed in such an arena
//! mostly stays resident. With `--jobs`, each parallel check creates its ONNX Runtime session
//! on a thread of its own, so the sessions' transient buffers piled up in separate arenas: on
//! a ResNet-50-sized model, `bisect --jobs 2` peaked at 2.1x the memory of `precision run`,
//! and at 1.5x with one arena (`cargo xtask bench` measures it). One arena for the process
//! lets every thread reuse what the others freed.

/// Limits glibc's malloc to one arena, unless the user chose a limit with `MALLOC_ARENA_MAX`.
/// Call it first thing in `main`, before any other thread exists.
pub fn limit_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    if std::env::var_os("MALLOC_ARENA_MAX").is_none() {
        #[allow(unsafe_code, reason = "one call into the C library's malloc settings")]
        // SAFETY: mallopt only sets a parameter of the allocator; M_ARENA_MAX takes any
        // positive count. No other thread exists yet, so no allocation runs concurrently.
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, 1);
        }
    }
}
