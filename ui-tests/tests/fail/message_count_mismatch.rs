#[evtrace::provider(name = "P")]
mod p {}

fn main() {
    let n = 1u64;
    evtrace::trace_message!(p, "{} and {}", n: u64);
    evtrace::trace_message!(p, "{}", n: u64, n: u64, n: u64);
    evtrace::trace_message!(p, "none", n: u64);
}
