//! The encoders and decoders against Windows' bytes and each other.

use std::net::Ipv6Addr;

use super::schema::read_tags;
use super::*;
use crate::etl::layout::Bytes;
use crate::etl::value::Value;
use crate::Guid;

#[test]
fn traits_and_tags_encode_like_windows() {
    // primitive-types.etl: "0f 00 solar_system 00".
    assert_eq!(provider_traits("solar_system"), b"\x0f\x00solar_system\x00");
    let g: Guid = "4F50731A-89CF-4782-B3E0-DCE8C90476BA".parse().unwrap();
    let t = provider_traits_with_group("Microsoft.Windows.Subsystem.LxCore", g);
    assert_eq!(t.len(), 0x38);
    let back = parse_provider_traits(&t).unwrap();
    assert_eq!(back.name, "Microsoft.Windows.Subsystem.LxCore");
    assert_eq!(back.group, Some(g));
    for tags in [
        0,
        0x0FE0_0000,
        0x0020_0000,
        0x0FFF_C000,
        0x0000_4000,
        0x0ABC_DEF1,
        1,
    ] {
        let mut v = vec![0, 0];
        encode_tags(tags, &mut v);
        assert_eq!(
            read_tags(&Bytes::new(&v, 0), 2, "t").unwrap(),
            (tags, v.len())
        );
    }
}

#[test]
fn schema_matches_primitive_types_sample() {
    let s = EventSchemaBuilder::new("PrimitiveTypesTest")
        .field("string_type", in_type::ANSI_STRING, 0)
        .field("boolean_type", in_type::UINT8, out_type::BOOLEAN)
        .field("char_type", in_type::UINT8, out_type::STRING)
        .field("int16_type", in_type::INT16, 0)
        .build();
    let mut expect = b"\x00\x00\x00PrimitiveTypesTest\x00string_type\x00\x02boolean_type\x00\x84\x03char_type\x00\x84\x02int16_type\x00\x05".to_vec();
    let n = expect.len() as u16;
    expect[..2].copy_from_slice(&n.to_le_bytes());
    assert_eq!(s, expect);
}

#[test]
fn every_type_round_trips() {
    let g: Guid = "D3DD3DD4-AAC2-4E2A-8DD4-A8FB61B77615".parse().unwrap();
    let schema = EventSchemaBuilder::new("All")
        .tags(0x0123_4567)
        .field("z16", in_type::UNICODE_STRING, 0)
        .field("z8", in_type::ANSI_STRING, out_type::UTF8)
        .field("i8", in_type::INT8, 0)
        .field("u8", in_type::UINT8, 0)
        .field("i16", in_type::INT16, 0)
        .field("u16", in_type::UINT16, 0)
        .field("i32", in_type::INT32, 0)
        .field("u32", in_type::UINT32, 0)
        .field("i64", in_type::INT64, 0)
        .field("u64", in_type::UINT64, 0)
        .field("f32", in_type::FLOAT, 0)
        .field("f64", in_type::DOUBLE, 0)
        .field("b32", in_type::BOOL32, 0)
        .field("bin", in_type::BINARY, 0)
        .field("guid", in_type::GUID, 0)
        .field("ft", in_type::FILETIME, 0)
        .field("st", in_type::SYSTEMTIME, 0)
        .field("sid", in_type::SID, 0)
        .field("h32", in_type::HEXINT32, 0)
        .field("h64", in_type::HEXINT64, 0)
        .field("c16", in_type::COUNTED_STRING, 0)
        .field_tagged(
            "c8",
            in_type::COUNTED_ANSI_STRING,
            out_type::JSON,
            0x0FFF_FFFF,
        )
        .field("cbin", in_type::COUNTED_BINARY, 0)
        .field("pid", in_type::UINT32, out_type::PID)
        .field("port", in_type::UINT16, out_type::PORT)
        .field("ip4", in_type::UINT32, out_type::IPV4)
        .field("ip6", in_type::COUNTED_BINARY, out_type::IPV6)
        .field("sock", in_type::COUNTED_BINARY, out_type::SOCKETADDRESS)
        .field("err", in_type::UINT32, out_type::WIN32ERROR)
        .field("ch", in_type::UINT8, out_type::STRING)
        .field("flag", in_type::UINT8, out_type::BOOLEAN)
        .array("va", in_type::UINT16, 0)
        .fixed_array("ca", in_type::INT8, 0, 3)
        .struct_field("pt", 2)
        .field("x", in_type::INT32, 0)
        .array("names", in_type::COUNTED_ANSI_STRING, 0)
        .field("after", in_type::NULL, 0)
        .build();
    let mut p: Vec<u8> = Vec::new();
    p.extend("hé".encode_utf16().flat_map(u16::to_le_bytes));
    p.extend_from_slice(&[0, 0]);
    p.extend_from_slice("ü8\0".as_bytes());
    p.push(0xFF);
    p.push(200);
    p.extend_from_slice(&(-2i16).to_le_bytes());
    p.extend_from_slice(&60000u16.to_le_bytes());
    p.extend_from_slice(&(-3i32).to_le_bytes());
    p.extend_from_slice(&4_000_000_000u32.to_le_bytes());
    p.extend_from_slice(&(-5i64).to_le_bytes());
    p.extend_from_slice(&u64::MAX.to_le_bytes());
    p.extend_from_slice(&1.5f32.to_le_bytes());
    p.extend_from_slice(&(-2.25f64).to_le_bytes());
    p.extend_from_slice(&1u32.to_le_bytes());
    p.extend_from_slice(&[2, 0, 0xAB, 0xCD]);
    p.extend_from_slice(&g.0);
    p.extend_from_slice(&0x01D7_A58B_4DFA_1070i64.to_le_bytes());
    for w in [2021u16, 9, 4, 9, 14, 59, 35, 799] {
        p.extend_from_slice(&w.to_le_bytes());
    }
    p.extend_from_slice(&[1, 2, 0, 0, 0, 0, 0, 5, 32, 0, 0, 0, 0x20, 0x02, 0, 0]);
    p.extend_from_slice(&0xDEADu32.to_le_bytes());
    p.extend_from_slice(&0xBEEFu64.to_le_bytes());
    p.extend_from_slice(&[4, 0, b'o', 0, b'k', 0]);
    p.extend_from_slice(b"\x07\x00{\"a\":1}");
    p.extend_from_slice(&[1, 0, 7]);
    p.extend_from_slice(&1234u32.to_le_bytes());
    p.extend_from_slice(&443u16.to_be_bytes());
    p.extend_from_slice(&[192, 168, 1, 2]);
    p.extend_from_slice(&[16, 0]);
    p.extend_from_slice(&Ipv6Addr::LOCALHOST.octets());
    p.extend_from_slice(&[16, 0, 2, 0, 0x1F, 0x90, 10, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0]);
    p.extend_from_slice(&5u32.to_le_bytes());
    p.push(b'A');
    p.push(1);
    p.extend_from_slice(&[2, 0, 1, 0, 2, 0]);
    p.extend_from_slice(&[1, 2, 0xFE]);
    p.extend_from_slice(&(-9i32).to_le_bytes());
    p.extend_from_slice(&[2, 0, 1, 0, b'a', 2, 0, b'b', b'c']);

    let s = parse_event_schema(&schema).unwrap();
    assert_eq!(s.name, "All");
    assert_eq!(s.tags, 0x0123_4567);
    let d = s.decode(&p, 0);
    assert_eq!(d.error, None);
    assert_eq!(d.trailing, 0);
    let get = |n: &str| {
        d.fields
            .iter()
            .find(|(k, _)| k == n)
            .map(|(_, v)| v.clone())
            .unwrap()
    };
    assert_eq!(get("z16"), Value::Str("hé".into()));
    assert_eq!(get("z8"), Value::Str("ü8".into()));
    assert_eq!(get("i8"), Value::I64(-1));
    assert_eq!(get("u8"), Value::U64(200));
    assert_eq!(get("i16"), Value::I64(-2));
    assert_eq!(get("u16"), Value::U64(60000));
    assert_eq!(get("i32"), Value::I64(-3));
    assert_eq!(get("u32"), Value::U64(4_000_000_000));
    assert_eq!(get("i64"), Value::I64(-5));
    assert_eq!(get("u64"), Value::U64(u64::MAX));
    assert_eq!(get("f32"), Value::F64(1.5));
    assert_eq!(get("f64"), Value::F64(-2.25));
    assert_eq!(get("b32"), Value::Bool(true));
    assert_eq!(get("bin"), Value::Bytes(vec![0xAB, 0xCD]));
    assert_eq!(get("guid"), Value::Guid(g));
    assert_eq!(get("ft").to_string(), "2021-09-09T14:59:35.7990000Z");
    assert_eq!(get("st").to_string(), "2021-09-09T14:59:35.799");
    assert_eq!(get("sid"), Value::Sid("S-1-5-32-544".into()));
    assert_eq!(get("h32").to_string(), "0x0000DEAD");
    assert_eq!(get("h64").to_string(), "0x000000000000BEEF");
    assert_eq!(get("c16"), Value::Str("ok".into()));
    assert_eq!(get("c8"), Value::Str("{\"a\":1}".into()));
    assert_eq!(get("cbin"), Value::Bytes(vec![7]));
    assert_eq!(get("pid"), Value::U64(1234));
    assert_eq!(get("port"), Value::U64(443));
    assert_eq!(get("ip4").to_string(), "192.168.1.2");
    assert_eq!(get("ip6").to_string(), "::1");
    assert_eq!(get("sock").to_string(), "10.0.0.1:8080");
    assert_eq!(get("err").to_string(), "0x00000005");
    assert_eq!(get("ch"), Value::Char('A'));
    assert_eq!(get("flag"), Value::Bool(true));
    assert_eq!(get("va"), Value::Array(vec![Value::U64(1), Value::U64(2)]));
    assert_eq!(
        get("ca"),
        Value::Array(vec![Value::I64(1), Value::I64(2), Value::I64(-2)])
    );
    assert_eq!(get("pt").to_string(), "{x=-9, names=[a, bc]}");
    assert_eq!(get("after"), Value::Null);
    let tagged = s.fields.iter().find(|f| f.name == "c8").unwrap();
    assert_eq!(tagged.tags, 0x0FFF_FFFF);
    assert_eq!(tagged.out_type, out_type::JSON);

    // Every truncation decodes as far as it can, without panicking.
    for cut in 0..p.len() {
        let d = s.decode(&p[..cut], 0);
        assert!(d.error.is_some(), "cut at {cut}");
    }
    for cut in 0..schema.len() {
        let _ = parse_event_schema(&schema[..cut]);
    }
}

#[test]
fn hostile_metadata_is_bounded() {
    // 40 nested structs exceed the depth limit.
    let mut b = EventSchemaBuilder::new("deep");
    for i in 0..40 {
        b = b.struct_field(&format!("s{i}"), 1);
    }
    b = b.field("leaf", in_type::UINT8, 0);
    assert!(parse_event_schema(&b.build()).is_err());
    // Arrays of arrays of empty values cannot multiply without bound.
    let s = EventSchemaBuilder::new("wide")
        .array("a", in_type::STRUCT, 1)
        .array("b", in_type::STRUCT, 1)
        .fixed_array("c", in_type::NULL, 0, u16::MAX)
        .build();
    let st = parse_event_schema(&s).unwrap();
    let d = st.decode(&[0xFF; 4], 0);
    assert!(
        d.error.as_ref().unwrap().what.contains("values"),
        "{:?}",
        d.error
    );
    assert!(d.error.is_some());
}
