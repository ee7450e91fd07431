#[evtrace::provider(name = "P")]
mod p {}

fn main() {
    evtrace::trace_message!(p, level = chatty, keywords = 0x1_0000_0000_0000_0000, "x");
    evtrace::trace_message!(p, colour = 1, "x");
    evtrace::trace_message!(p, 5);
}
