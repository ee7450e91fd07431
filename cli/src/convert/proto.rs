//! A minimal protobuf encoder: varints, length-delimited fields, doubles. Enough for the few
//! Perfetto messages `convert` writes, without a code generator (and protoc) in the build.

/// One message being built, as its encoded bytes.
#[derive(Default, Debug, Clone)]
pub struct Msg(pub Vec<u8>);

const VARINT: u64 = 0;
const FIXED64: u64 = 1;
const LEN: u64 = 2;

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

impl Msg {
    /// An empty message.
    pub fn new() -> Msg {
        Msg(Vec::new())
    }

    fn tag(&mut self, field: u32, wire: u64) {
        put_varint(&mut self.0, (u64::from(field) << 3) | wire);
    }

    /// An unsigned integer (uint32, uint64, enum, bool) field.
    pub fn uint(&mut self, field: u32, v: u64) -> &mut Msg {
        self.tag(field, VARINT);
        put_varint(&mut self.0, v);
        self
    }

    /// An int32/int64 field (two's complement varint, as protobuf encodes them).
    pub fn int(&mut self, field: u32, v: i64) -> &mut Msg {
        self.uint(field, v as u64)
    }

    /// A double field.
    pub fn double(&mut self, field: u32, v: f64) -> &mut Msg {
        self.tag(field, FIXED64);
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }

    /// A bytes or string field.
    pub fn bytes(&mut self, field: u32, b: &[u8]) -> &mut Msg {
        self.tag(field, LEN);
        put_varint(&mut self.0, b.len() as u64);
        self.0.extend_from_slice(b);
        self
    }

    /// A string field.
    pub fn str(&mut self, field: u32, s: &str) -> &mut Msg {
        self.bytes(field, s.as_bytes())
    }

    /// An embedded message field.
    pub fn msg(&mut self, field: u32, m: &Msg) -> &mut Msg {
        self.bytes(field, &m.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_as_the_protobuf_reference_examples() {
        // From the protobuf encoding guide: field 1 = 150 is 08 96 01; field 2 = "testing".
        assert_eq!(Msg::new().uint(1, 150).0, [0x08, 0x96, 0x01]);
        let mut m = Msg::new();
        m.str(2, "testing");
        assert_eq!(m.0, b"\x12\x07testing");
        // Negative int64: ten bytes; field numbers over 15 take a two-byte tag.
        let m = Msg::new().int(1, -1).0.clone();
        assert_eq!(m.len(), 11);
        assert_eq!(
            &m[1..],
            [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01]
        );
        assert_eq!(Msg::new().uint(60, 1).0, [0xE0, 0x03, 0x01]);
        let mut outer = Msg::new();
        outer.msg(3, &m_of(1, 150));
        assert_eq!(outer.0, [0x1A, 0x03, 0x08, 0x96, 0x01]);
        assert_eq!(Msg::new().double(5, 1.0).0[0], 0x29);
    }

    fn m_of(field: u32, v: u64) -> Msg {
        let mut m = Msg::new();
        m.uint(field, v);
        m
    }
}
