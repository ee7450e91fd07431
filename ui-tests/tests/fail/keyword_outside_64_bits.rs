#[evtrace::provider(name = "P")]
mod p {
    #[event(keywords = 0x1_0000_0000_0000_0000)]
    pub fn a();
    #[event(keywords = 0x1 | 0x2_0000_0000_0000_0000)]
    pub fn b();
    #[event(keywords = ALL)]
    pub fn c();
}

fn main() {}
