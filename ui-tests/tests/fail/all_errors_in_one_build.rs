// Every problem of a declaration is reported in the same build, each on its own token.
#[evtrace::provider(name = "P", guid = "1234")]
mod p {
    #[event(id = 1, level = noisy)]
    pub fn a(x: Vec<u8>);
    #[event(id = 1, opcode = 999, keywords = 0x1_0000_0000_0000_0000)]
    pub fn b<T>(x: T) -> bool;
    pub fn c(#[field(format = hex)] s: String);
}

fn main() {}
