//! Every "do not use with" of the seed's Logging Mode Constants table, the size and name rules,
//! and the private-session restrictions, checked through `Session::start`.

use evtrace_runtime::session::properties::validate;
use evtrace_runtime::session::{LogFileMode as M, Session, SessionKind, SessionProperties};
use evtrace_runtime::ErrorCode;
use evtrace_testkit::Scratch;

/// A file name in the temporary folder, for properties that are refused or only validated: no
/// file is made there. A test that starts a session makes its own [`Scratch`].
fn tmp(name: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("evtrace-mode-rules-{}-{name}", std::process::id()))
}

fn props(mode: M) -> SessionProperties {
    SessionProperties::new("rules")
        .log_file(tmp("rules.etl"))
        .mode(mode)
        .maximum_file_size(4)
}

#[test]
fn every_excluded_pair_is_refused_naming_both_flags() {
    let pairs = [
        (M::SEQUENTIAL, M::CIRCULAR),
        (M::SEQUENTIAL, M::NEWFILE),
        (M::CIRCULAR, M::APPEND),
        (M::CIRCULAR, M::NEWFILE),
        (M::APPEND, M::REAL_TIME),
        (M::APPEND, M::NEWFILE),
        (M::PREALLOCATE, M::NEWFILE),
        (M::BUFFERING, M::SEQUENTIAL),
        (M::BUFFERING, M::CIRCULAR),
        (M::BUFFERING, M::APPEND),
        (M::BUFFERING, M::NEWFILE),
        (M::BUFFERING, M::REAL_TIME),
        (M::GLOBAL_SEQUENCE, M::LOCAL_SEQUENCE),
    ];
    for (a, b) in pairs {
        let e = validate(props(a | b), SessionKind::System, 2).unwrap_err();
        assert_eq!(e.code(), ErrorCode::InvalidParameter, "{a:?}|{b:?}");
        assert!(
            e.message().contains(a.flag_name()),
            "{e} should name {}",
            a.flag_name()
        );
        assert!(
            e.message().contains(b.flag_name()),
            "{e} should name {}",
            b.flag_name()
        );
    }
}

#[test]
fn private_sessions_refuse_what_the_seed_forbids() {
    for f in [
        M::REAL_TIME,
        M::PREALLOCATE,
        M::INDEPENDENT_SESSION,
        M::APPEND,
        M::NONSTOPPABLE,
        M::SYSTEM_LOGGER,
    ] {
        let e = Session::start_private(props(f)).unwrap_err();
        assert_eq!(e.code(), ErrorCode::InvalidParameter, "{f:?}");
        assert!(e.message().contains(f.flag_name()), "{e}");
        assert!(e.message().contains("private"), "{e}");
    }
    // USE_PAGED_MEMORY is accepted and ignored.
    let r = validate(props(M::USE_PAGED_MEMORY), SessionKind::Private, 2).unwrap();
    assert!(!r.props.mode.contains(M::USE_PAGED_MEMORY));
}

#[test]
fn sizes_are_checked_with_the_allowed_range_in_the_message() {
    for kb in [0, 3, 16385, 1 << 20] {
        let e = validate(
            props(M::empty()).buffer_size_kb(kb),
            SessionKind::Private,
            2,
        )
        .unwrap_err();
        assert_eq!(e.code(), ErrorCode::InvalidParameter);
        assert!(e.message().contains("4 to 16384"), "{e}");
    }
    for kb in [4, 64, 16384] {
        validate(
            props(M::empty()).buffer_size_kb(kb).maximum_file_size(64),
            SessionKind::Private,
            2,
        )
        .unwrap();
    }
    for mode in [M::CIRCULAR, M::NEWFILE, M::PREALLOCATE | M::SEQUENTIAL] {
        let mut p = props(mode).maximum_file_size(0);
        if mode.contains(M::NEWFILE) {
            p = p.log_file(tmp("n_%d.etl"));
        }
        let e = validate(p, SessionKind::System, 2).unwrap_err();
        assert!(e.message().contains("MaximumFileSize"), "{e}");
    }
    let e = validate(
        props(M::CIRCULAR)
            .maximum_file_size(100)
            .mode(M::USE_KBYTES_FOR_SIZE),
        SessionKind::Private,
        2,
    )
    .unwrap_err();
    assert!(e.message().contains("at least"), "{e}");
}

#[test]
fn buffers_are_raised_as_etw_raises_them() {
    let r = validate(props(M::empty()).buffers(1, 1), SessionKind::Private, 4).unwrap();
    assert_eq!(r.props.minimum_buffers, 8, "2 per processor");
    assert_eq!(r.props.maximum_buffers, 8, "maximum raised to the minimum");
    let r = validate(
        props(M::NO_PER_PROCESSOR_BUFFERING).buffers(1, 0),
        SessionKind::Private,
        4,
    )
    .unwrap();
    assert_eq!((r.props.minimum_buffers, r.slots), (2, 1));
    let r = validate(
        SessionProperties::new("b")
            .log_file(tmp("b.etl"))
            .mode(M::BUFFERING)
            .buffers(6, 100),
        SessionKind::Private,
        2,
    )
    .unwrap();
    assert_eq!(
        r.props.maximum_buffers, 6,
        "BUFFERING ignores MaximumBuffers"
    );
}

#[test]
fn names_and_paths() {
    let e = validate(
        props(M::empty()).log_file(tmp("x.etl")).mode(M::empty()),
        SessionKind::Private,
        1,
    );
    assert!(e.is_ok());
    let long = "n".repeat(1025);
    let e = validate(
        SessionProperties::new(long).log_file(tmp("x.etl")),
        SessionKind::Private,
        1,
    )
    .unwrap_err();
    assert_eq!(e.code(), ErrorCode::InvalidName);
    assert!(e.message().contains("1024"), "{e}");
    let e = validate(SessionProperties::new(""), SessionKind::Private, 1).unwrap_err();
    assert_eq!(e.code(), ErrorCode::InvalidName);
    let e = validate(SessionProperties::new("nofile"), SessionKind::Private, 1).unwrap_err();
    assert_eq!(e.code(), ErrorCode::BadPathname);
    let e = validate(
        SessionProperties::new("x").log_file("/no/such/folder/x.etl"),
        SessionKind::Private,
        1,
    )
    .unwrap_err();
    assert_eq!(e.code(), ErrorCode::BadPathname);
    assert!(e.message().contains("/no/such/folder"), "{e}");
    let e = validate(
        SessionProperties::new("nf")
            .log_file(tmp("newfile.etl"))
            .mode(M::NEWFILE)
            .maximum_file_size(1),
        SessionKind::Private,
        1,
    )
    .unwrap_err();
    assert_eq!(e.code(), ErrorCode::InvalidName);
    assert!(e.message().contains("%d"), "{e}");
    let e = validate(
        props(M::from_bits_retain(0x4000_0000)),
        SessionKind::Private,
        1,
    )
    .unwrap_err();
    assert!(e.message().contains("0x40000000"), "{e}");
    for f in [M::DELAY_OPEN_FILE, M::ADD_HEADER, M::RELOG, M::KD_FILTER] {
        let e = validate(props(f), SessionKind::System, 1).unwrap_err();
        assert!(e.message().contains(f.flag_name()), "{e}");
    }
}

#[test]
fn duplicate_names_are_refused_case_insensitively() {
    let dir = Scratch::new("mode-rules-dup");
    let a =
        Session::start_private(SessionProperties::new("Dup-Name").log_file(dir.join("dup1.etl")))
            .unwrap();
    let e =
        Session::start_private(SessionProperties::new("dup-NAME").log_file(dir.join("dup2.etl")))
            .unwrap_err();
    assert_eq!(e.code(), ErrorCode::AlreadyExists);
    let e = Session::start_private(SessionProperties::new("other").log_file(a.log_file().unwrap()))
        .unwrap_err();
    assert_eq!(e.code(), ErrorCode::BadPathname, "{e}");
    a.stop().unwrap();
}

#[test]
fn real_time_is_refused_until_a_consumer_can_receive_it() {
    let e = Session::start(
        SessionProperties::new("rt-only").mode(M::REAL_TIME),
        SessionKind::System,
    )
    .unwrap_err();
    assert_eq!(e.code(), ErrorCode::NotSupported);
    assert!(
        e.message().contains("EVENT_TRACE_REAL_TIME_MODE") && e.message().contains("file"),
        "{e}"
    );
}

/// EnableFlags select kernel events, which only system loggers hosted by the daemon record: a
/// private session refuses them, and so does an in-process system session (nothing would
/// serve them there).
#[test]
fn enable_flags_are_for_system_loggers_only() {
    use evtrace_runtime::kernel::KernelFlags;
    let p = props(M::SEQUENTIAL).enable_flags(KernelFlags::PROCESS);
    let e = Session::start_private(p.clone()).unwrap_err();
    assert_eq!(e.code(), ErrorCode::InvalidParameter);
    assert!(
        e.message().contains("only system loggers"),
        "{}",
        e.message()
    );
    let e = Session::start(p, SessionKind::System).unwrap_err();
    assert_eq!(e.code(), ErrorCode::NotSupported);
    assert!(e.message().contains("daemon"), "{}", e.message());
}

/// A kernel process tree restricts kernel events, so a private session refuses it as it
/// refuses EnableFlags.
#[test]
fn a_kernel_process_tree_is_for_system_loggers_only() {
    let p = props(M::SEQUENTIAL).kernel_tree_of(std::process::id());
    let e = Session::start_private(p).unwrap_err();
    assert_eq!(e.code(), ErrorCode::InvalidParameter);
    assert!(
        e.message().contains("kernel_tree_of") && e.message().contains("only system loggers"),
        "{}",
        e.message()
    );
}
