#[evtrace::provider(name = "P")]
mod p {
    pub fn e(a: &[bool], b: &[&str], c: Option<&[u8]>, d: Option<Option<u8>>, e: &mut str);
}

fn main() {}
