//! `runner`: thin CLI over the echo_runner library. Exit codes: 0 done, 1 failed,
//! 2 invalid input (config or command line), 3 result directory busy (`--no-wait`),
//! 75 interrupted and resumable.

mod cli;

fn main() -> std::process::ExitCode {
    cli::main()
}
