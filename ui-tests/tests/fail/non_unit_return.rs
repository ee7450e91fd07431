#[evtrace::provider(name = "P")]
mod p {
    pub fn a() -> u32;
    pub fn b() -> Result<(), String>;
    pub async fn c();
    pub unsafe fn d();
}

fn main() {}
