//! `runner`: thin CLI over the echo_runner library, one file per command under `cli/`. Exit
//! codes (cli/error.rs): 0 done, 1 failed, 2 invalid input (config or command line),
//! 3 result directory busy (`--no-wait`), 75 interrupted and resumable.

mod cli;

// Training allocates and frees large tensors at every step; glibc's malloc serves those with
// fresh mmaps whose page faults cost about as much as the arithmetic (measured: 30 of 80 s
// in the kernel on the demo). mimalloc reuses them.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc's `mi_option_purge_delay` (its place in `mi_option_e`, mimalloc 2 and 3).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

fn main() -> std::process::ExitCode {
    // Never hand freed memory back to the OS: a training step frees and reallocates the same
    // large tensors, and each fresh page is a fault plus the kernel zeroing it (measured: 41% of
    // a Swin training step on the CPU with mimalloc's default 10 ms purge delay; the step ran
    // 1.8× faster without purging). The cost is that the peak stays resident until exit.
    // SAFETY: called once, before any other thread exists.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, -1) };
    cli::main()
}
