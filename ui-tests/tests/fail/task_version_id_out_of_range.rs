#[evtrace::provider(name = "P")]
mod p {
    #[event(id = 70000, version = 256, task = 65536)]
    pub fn a();
}

fn main() {}
