#[evtrace::provider(name = "P")]
mod p {
    #[event(id = 1)]
    pub fn a();
    pub fn b();
    pub fn c();
}

fn main() {}
