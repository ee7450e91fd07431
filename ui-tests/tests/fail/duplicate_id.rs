#[evtrace::provider(name = "P")]
mod p {
    #[event(id = 1)]
    pub fn a();
    #[event(id = 2)]
    pub fn b();
    #[event(id = 1)]
    pub fn c();
}

fn main() {}
