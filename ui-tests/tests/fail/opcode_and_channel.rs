#[evtrace::provider(name = "P")]
mod p {
    #[event(opcode = begin)]
    pub fn a();
    #[event(opcode = 1000)]
    pub fn b();
    #[event(channel = system)]
    pub fn c();
    #[event(channel = 300)]
    pub fn d();
}

fn main() {}
