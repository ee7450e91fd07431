//! Raw identifiers lose their `r#` in the recorded names; a level may be written as a path to
//! its constant and keywords as shifts; an event under a false `#[cfg]` is compiled out whole
//! (its module too, so no doc link dangles).
#![deny(rustdoc::broken_intra_doc_links)]

#[evtrace::provider]
pub mod r#async {
    /// A keyword-named event with a keyword-named field.
    #[event(level = level::WARNING, keywords = 1 << 3 | 1)]
    pub fn r#type(r#match: u32);

    /// Compiled out.
    #[cfg(any())]
    pub fn compiled_out(x: u32);
}

fn main() {
    assert_eq!(r#async::PROVIDER.name(), "async");
    assert_eq!(r#async::PROVIDER.guid(), evtrace::Guid::from_name("async"));
    let d = r#async::r#type::EVENT.descriptor();
    assert_eq!((d.level, d.keyword), (3, 0b1001));
    assert!(r#async::r#type::SCHEMA.windows(6).any(|w| w == b"match\0"));
    assert!(!r#async::r#type::SCHEMA.windows(2).any(|w| w == b"r#"));
    evtrace::write!(r#async::r#type(1));
}
