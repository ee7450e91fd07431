use super::*;
use in_type as I;
use out_type as O;

#[test]
fn tables_are_sorted_for_binary_search() {
    assert!(TYPES.windows(2).all(|w| w[0].name < w[1].name));
    assert!(FORMATS.windows(2).all(|w| w[0].0 < w[1].0));
    for t in [LEVELS, OPCODES, CHANNELS] {
        assert!(t.windows(2).all(|w| w[0].0 < w[1].0));
    }
    for e in TYPES {
        assert_eq!(lookup(e.name).unwrap().name, e.name);
    }
    assert!(lookup("u256").is_none());
}

#[test]
fn supported_list_names_every_type() {
    for e in TYPES {
        assert!(SUPPORTED.contains(&format!("{}, ", e.name)), "{}", e.name);
    }
    assert_eq!(type_text(&ty("Option < Vec < u8 > >")), "Option<Vec<u8>>");
    assert_eq!(type_text(&ty("& 'static [ u8 ]")), "&'static [u8]");
}

#[test]
fn guid_from_name_matches_eventsource() {
    // The example of TraceLoggingProvider.h's documentation.
    assert_eq!(
        guid_text(&guid_from_name("MyCompany.MyComponent")),
        "CE5FA4EA-AB00-5402-8B76-9F76AC858FB5"
    );
    let g = parse_guid("{CE5FA4EA-AB00-5402-8B76-9F76AC858FB5}").unwrap();
    assert_eq!(g, guid_from_name("mycompany.mycomponent"));
    assert!(parse_guid("CE5FA4EA-AB00-5402-8B76-9F76AC858FB").is_none());
    assert!(parse_guid("CE5FA4EA-AB00-5402-8B76-9F76AC858FBG").is_none());
}

fn ty(s: &str) -> Type {
    syn::parse_str(s).unwrap()
}

#[test]
fn types_resolve_to_their_tracelogging_types() {
    let t = |s: &str| {
        resolve(&ty(s))
            .map(|t| (t.in_type, t.out_type))
            .unwrap_or((0xFF, 0xFF))
    };
    assert_eq!(t("u32"), (I::UINT32, 0));
    assert_eq!(t("std::primitive::u32"), (I::UINT32, 0));
    assert_eq!(t("&'static str"), (I::ANSI_STRING, O::UTF8));
    assert_eq!(t("&[u8]"), (I::BINARY, 0));
    assert_eq!(t("&[u16]"), (I::UINT16 | I::VCOUNT, 0));
    assert_eq!(t("Option<u8>"), (I::UINT8 | I::VCOUNT, 0));
    assert_eq!(t("Option<&str>"), (I::ANSI_STRING | I::VCOUNT, O::UTF8));
    assert_eq!(
        t("Option<std::net::Ipv6Addr>"),
        (I::COUNTED_BINARY | I::VCOUNT, O::IPV6)
    );
    assert_eq!(t("std::time::SystemTime"), (I::SYSTEMTIME, O::DATETIME_UTC));
    assert!(matches!(
        resolve(&ty("Option<&[u8]>")),
        Err(Unsupported::OptionOf)
    ));
    assert!(matches!(resolve(&ty("&[bool]")), Err(Unsupported::SliceOf)));
    assert!(matches!(resolve(&ty("Vec<u8>")), Err(Unsupported::Type)));
    assert!(matches!(resolve(&ty("&mut str")), Err(Unsupported::Type)));
}

#[test]
fn formats_apply_to_their_types_only() {
    let u16t = FieldType::of(lookup("u16").unwrap());
    let port = u16t.with_format(Format::Port).unwrap();
    assert_eq!((port.out_type, port.encoding), (O::PORT, Encoding::Be));
    assert!(u16t.with_format(Format::Pid).is_err());
    assert!(FieldType::of(&STR).with_format(Format::Hex).is_err());
    assert_eq!(
        FieldType::of(&STR)
            .with_format(Format::Json)
            .unwrap()
            .out_type,
        O::JSON
    );
}

#[test]
fn blob_literals_show_text_as_text() {
    let mut b = Blob::sized(&[0]);
    b.text("a\"b#");
    b.raw(&[0, b'#', 0x0A]);
    let b = b.finish(0);
    assert_eq!(b.bytes, b"\x0A\x00\x00a\"b#\x00#\x0A");
    assert_eq!(b.literal_source(), r#"b"\x0A\x00\x00a\"b#\x00\x23\x0A""#);
}

#[test]
fn names_are_checked() {
    assert!(check_name("event", "Copied").is_ok());
    assert!(check_name("event", "").is_err());
    assert!(check_name("event", "a\0b").is_err());
    assert!(check_name("event", "größe").is_err());
    assert!(check_name("event", &"x".repeat(256)).is_err());
}
