#[evtrace::provider(name = "P")]
mod p {}

fn main() {
    let s = "text";
    let n: i32 = -1;
    evtrace::trace_message!(p, "{:x} {:X}", s: &str, 1.5f64);
    evtrace::trace_message!(p, "{:#x}", 5u128);
    evtrace::trace_message!(p, "{}", n: u64);
    evtrace::trace_message!(p, "{}", n: Vec<i32>);
}
