#[evtrace::provider(name = "P")]
mod p {
    pub fn a<T>(x: T);
    pub fn b<'a>(x: &'a str);
    pub fn c(x: u8) where u8: Copy;
}

fn main() {}
