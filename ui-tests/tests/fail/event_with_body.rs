#[evtrace::provider(name = "P")]
mod p {
    pub fn a(x: u8) {
        let _ = x;
    }
}

fn main() {}
