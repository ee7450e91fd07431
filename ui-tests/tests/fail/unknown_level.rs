#[evtrace::provider(name = "P")]
mod p {
    #[event(level = loud)]
    pub fn a();
    #[event(level = "debug")]
    pub fn b();
}

fn main() {}
