#[evtrace::provider(name = "P")]
mod p {}

fn main() {
    let n = 1u64;
    let o = Some(1u8);
    evtrace::trace_message!(p, "{} {}", n, 5);
    evtrace::trace_message!(p, "{}", o: Option<u8>);
}
