#[evtrace::provider(name = "P")]
mod p {
    #[event(level = info)]
    #[event(level = warning)]
    pub fn twice();
    pub fn pattern(_: u32, (a, b): (u8, u8));
    pub fn field_option(#[field(unit = "ms")] x: u32);
    #[event(id = -1)]
    pub fn negative();
}

#[evtrace::provider(name = "Q")]
mod q;

fn main() {}
