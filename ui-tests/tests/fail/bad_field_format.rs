#[evtrace::provider(name = "P")]
mod p {
    pub fn a(
        #[field(format = hex)] s: &str,
        #[field(format = port)] p: u32,
        #[field(format = pid)] q: u64,
        #[field(format = json)] j: u8,
        #[field(format = octal)] o: u8,
        #[field(format = hex)] f: f64,
        #[field(format = hex)] big: u128,
        #[serde(rename = "x")] x: u8,
    );
}

fn main() {}
