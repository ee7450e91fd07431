#[evtrace::provider(name = "P")]
mod p {
    pub fn e(a: Vec<u8>, b: std::collections::HashMap<u8, u8>, c: *const u8);
}

fn main() {}
