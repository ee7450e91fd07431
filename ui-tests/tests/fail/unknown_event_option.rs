#[evtrace::provider(name = "P")]
mod p {
    #[event(priority = 1, level = info)]
    pub fn a();
    #[event(id = "one")]
    pub fn b();
}

fn main() {}
