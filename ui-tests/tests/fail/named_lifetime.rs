#[evtrace::provider(name = "P")]
mod p {
    pub fn e(a: &'a str, b: &'static str);
}

fn main() {}
