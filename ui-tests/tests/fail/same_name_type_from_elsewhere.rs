// A type is matched by name; one of the same name from elsewhere fails on the user's token.
mod other {
    #[derive(Clone, Copy)]
    pub struct Guid;
}

#[evtrace::provider(name = "P")]
mod p {
    use super::other::Guid;
    pub fn a(g: Guid);
}

fn main() {}
