#[evtrace::provider(name = "")]
mod p {
    #[event(name = "größe")]
    pub fn a(#[field(name = "a\0b")] x: u8, #[field(name = "")] y: u8);
    #[event(name = "b")]
    pub fn c(#[field(name = "x")] x: u8, #[field(name = "x")] y: u8);
    #[event(name = "b")]
    pub fn d();
}

fn main() {}
