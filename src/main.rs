//! `runner`: thin CLI over the echo_runner library. Exit codes: 0 done, 1 failed,
//! 2 invalid input (config or command line), 3 result directory busy (`--no-wait`),
//! 75 interrupted and resumable.

mod cli;

// Training allocates and frees large tensors at every step; glibc's malloc serves those with
// fresh mmaps whose page faults cost about as much as the arithmetic (measured: 30 of 80 s
// in the kernel on the demo). mimalloc reuses them.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    cli::main()
}
