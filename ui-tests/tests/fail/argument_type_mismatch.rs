#[evtrace::provider(name = "P")]
mod p {
    pub fn copied(src: &str, bytes: u64, addr: std::net::Ipv4Addr);
}

fn main() {
    let n: i32 = 5;
    evtrace::write!(p::copied("a", n, "10.0.0.1"));
    evtrace::write!(p::copied(1, 2));
}
