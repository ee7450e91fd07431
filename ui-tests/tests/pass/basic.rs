//! A provider with ids, levels, keywords, opcodes, tasks, channels; write!, trace_message! and
//! register().

#[evtrace::provider(name = "MyCompany-CopyTool", guid = "{CE5FA4EA-AB00-5402-8B76-9F76AC858FB5}")]
pub mod copy_events {
    /// A file was copied.
    #[event(id = 10, level = info, keywords = 0x1 | 0x4, opcode = start, task = 3, version = 1)]
    pub fn copied(src: &str, bytes: u64);

    /// Copying failed.
    #[event(id = 11, level = "error", channel = operational, name = "CopyFailed")]
    pub fn failed(code: i32);

    /// Nothing to say.
    #[event(id = 12, level = 200, opcode = 240, channel = 16, keywords = 0xFFFF_FFFF_FFFF_FFFF)]
    pub(crate) fn tick();
}

use copy_events::copied;

fn main() {
    copy_events::register().unwrap();
    let d = copy_events::copied::EVENT.descriptor();
    assert_eq!((d.id, d.level, d.keyword, d.opcode, d.task, d.version, d.channel), (10, 4, 5, 1, 3, 1, 11));
    assert_eq!(copy_events::failed::EVENT.descriptor().channel, 17);
    assert_eq!(copy_events::PROVIDER.guid().to_string(), "CE5FA4EA-AB00-5402-8B76-9F76AC858FB5");
    let _activity = evtrace::write!(copied("a", 1));
    evtrace::write!(copy_events::failed(-1));
    evtrace::write!(copy_events::tick());
    let n = 5u64;
    evtrace::trace_message!(copy_events, "copied {} bytes from {:?} ({:#x})", n: u64, "a.txt", 0x10u32);
    evtrace::trace_message!(copy_events, level = warning, keywords = 0x2, "{{literal}} {:X}", n + 1: u64);
    evtrace::trace_message!(copy_events, "no arguments");
}
