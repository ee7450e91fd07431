#[evtrace::provider(name = "P")]
mod p {
    pub fn a(x: u8);
}

fn main() {
    evtrace::write!(p::a);
    evtrace::write!((p::a)(1));
    evtrace::write!(p::b(1));
}
