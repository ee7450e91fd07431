#[evtrace::provider(name = "P", guid = "not-a-guid")]
mod p {}

#[evtrace::provider(name = "Q", color = "blue")]
mod q {}

fn main() {}
