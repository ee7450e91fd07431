#[evtrace::provider(name = "P")]
mod p {
    #[event(level = 256)]
    pub fn a();
    #[event(level = 7)]
    pub fn b();
    #[event(level = -1)]
    pub fn c();
}

fn main() {}
