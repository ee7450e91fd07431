#[evtrace::provider(name = "P")]
mod p {
    #[event(id = 1, id = 2)]
    pub fn a();
    #[event(id = 2, keyword = 1, keywords = 2, level = info, level = warning)]
    pub fn b(#[field(format = hex, format = pid)] x: u32);
    // A bad id is reported once, not again as a clash with the event whose id is 0.
    #[event(id = 99999999999999999999999999999999999999999)]
    pub fn c();
    #[event(id = 0)]
    pub fn d();
}

fn main() {}
