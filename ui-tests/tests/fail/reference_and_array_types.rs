#[evtrace::provider(name = "P")]
mod p {
    use evtrace::Guid;

    pub fn e(a: &String, b: &Guid, c: &u32, d: [u8; 16], e: &[u8; 16]);
}

fn main() {}
