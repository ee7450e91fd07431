#[evtrace::provider(name = "P")]
mod p {
    #[event(opcode = start, task = 1)]
    pub fn request_start();
    // A Stop of another task than the Start's: nothing began what it ends.
    #[event(opcode = stop, task = 2)]
    pub fn request_stop();
    #[event(opcode = "Stop")]
    pub fn orphan_stop();
}

fn main() {}
