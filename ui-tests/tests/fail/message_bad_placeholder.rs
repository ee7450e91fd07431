#[evtrace::provider(name = "P")]
mod p {}

fn main() {
    let n = 1u64;
    evtrace::trace_message!(p, "{0}", n: u64);
    evtrace::trace_message!(p, "{:>8}", n: u64);
    evtrace::trace_message!(p, "open {", n: u64);
    evtrace::trace_message!(p, "close }", n: u64);
    evtrace::trace_message!(p, "{n}", n: u64);
}
