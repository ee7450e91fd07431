#[evtrace::provider(name = "P")]
mod p {}

fn main() {
    let (x, f, n) = (1u32, 1.5f64, 7usize);
    evtrace::trace_message!(p, "{:#?}", x: u32);
    evtrace::trace_message!(p, "{:.2}", f: f64);
    evtrace::trace_message!(p, "{:08x}", x: u32);
    evtrace::trace_message!(p, "a\0b {}", x: u32);
    evtrace::trace_message!(p, "{:x}", n: usize);
    evtrace::trace_message!(p, level = 7, "{}", x: u32);
}
