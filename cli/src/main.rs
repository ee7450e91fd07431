//! `evtrace`: control trace sessions like tracelog, format log files like tracefmt.

fn main() -> std::process::ExitCode {
    evtrace_cli::run(std::env::args_os())
}
