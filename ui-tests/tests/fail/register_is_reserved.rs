#[evtrace::provider(name = "P")]
mod p {
    pub fn register(x: u8);
}

fn main() {}
