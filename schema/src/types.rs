//! TraceLogging's field types: the InType (binary encoding) and OutType (how to show it)
//! codes of TraceLoggingProvider.h.

/// InType values (`TlgIn`): the binary encoding of a field.
pub mod in_type {
    /// No data.
    pub const NULL: u8 = 0;
    /// NUL-terminated UTF-16LE string.
    pub const UNICODE_STRING: u8 = 1;
    /// NUL-terminated 8-bit string (CP1252, or UTF-8 with OutType UTF8/JSON/XML).
    pub const ANSI_STRING: u8 = 2;
    /// i8.
    pub const INT8: u8 = 3;
    /// u8.
    pub const UINT8: u8 = 4;
    /// i16.
    pub const INT16: u8 = 5;
    /// u16.
    pub const UINT16: u8 = 6;
    /// i32.
    pub const INT32: u8 = 7;
    /// u32.
    pub const UINT32: u8 = 8;
    /// i64.
    pub const INT64: u8 = 9;
    /// u64.
    pub const UINT64: u8 = 10;
    /// f32.
    pub const FLOAT: u8 = 11;
    /// f64.
    pub const DOUBLE: u8 = 12;
    /// 32-bit boolean.
    pub const BOOL32: u8 = 13;
    /// u16 byte count + bytes (no arrays).
    pub const BINARY: u8 = 14;
    /// 16-byte GUID, Windows byte order.
    pub const GUID: u8 = 15;
    /// Pointer (pointer-size hex); decoded as 8 bytes.
    pub const POINTER: u8 = 16;
    /// FILETIME, i64.
    pub const FILETIME: u8 = 17;
    /// SYSTEMTIME, 8 x u16.
    pub const SYSTEMTIME: u8 = 18;
    /// Security identifier, 8 + 4 x sub-authority count bytes.
    pub const SID: u8 = 19;
    /// u32 shown as hex.
    pub const HEXINT32: u8 = 20;
    /// u64 shown as hex.
    pub const HEXINT64: u8 = 21;
    /// u16 byte count + UTF-16LE.
    pub const COUNTED_STRING: u8 = 22;
    /// u16 byte count + 8-bit string.
    pub const COUNTED_ANSI_STRING: u8 = 23;
    /// Struct: the OutType byte holds the number of member fields that follow.
    pub const STRUCT: u8 = 24;
    /// u16 byte count + bytes (arrays allowed).
    pub const COUNTED_BINARY: u8 = 25;
    /// Flag: constant-count array (u16 count in the metadata).
    pub const CCOUNT: u8 = 0x20;
    /// Flag: variable-count array (u16 count in the payload).
    pub const VCOUNT: u8 = 0x40;
    /// Flags 0x60 together: custom serializer (u16 type-info size + type info in the metadata).
    pub const CUSTOM: u8 = 0x60;
    /// Flag: an OutType byte follows.
    pub const CHAIN: u8 = 0x80;
    /// Mask of the type bits.
    pub const TYPE_MASK: u8 = 0x1F;
    /// Mask of the count flags.
    pub const COUNT_MASK: u8 = 0x60;

    /// The name TraceLoggingProvider.h gives an InType (`TlgIn*` without the prefix, upper
    /// case), for documentation and reports.
    pub fn name(t: u8) -> &'static str {
        match t & TYPE_MASK {
            NULL => "NULL",
            UNICODE_STRING => "UNICODESTRING",
            ANSI_STRING => "ANSISTRING",
            INT8 => "INT8",
            UINT8 => "UINT8",
            INT16 => "INT16",
            UINT16 => "UINT16",
            INT32 => "INT32",
            UINT32 => "UINT32",
            INT64 => "INT64",
            UINT64 => "UINT64",
            FLOAT => "FLOAT",
            DOUBLE => "DOUBLE",
            BOOL32 => "BOOL32",
            BINARY => "BINARY",
            GUID => "GUID",
            POINTER => "POINTER",
            FILETIME => "FILETIME",
            SYSTEMTIME => "SYSTEMTIME",
            SID => "SID",
            HEXINT32 => "HEXINT32",
            HEXINT64 => "HEXINT64",
            COUNTED_STRING => "COUNTEDSTRING",
            COUNTED_ANSI_STRING => "COUNTEDANSISTRING",
            STRUCT => "STRUCT",
            COUNTED_BINARY => "COUNTEDBINARY",
            _ => "?",
        }
    }
}

/// OutType values (`TlgOut`): how a field should be shown.
pub mod out_type {
    /// Default formatting for the InType.
    pub const DEFAULT: u8 = 0;
    /// Hidden.
    pub const NOPRINT: u8 = 1;
    /// String (a char for 8/16-bit integers).
    pub const STRING: u8 = 2;
    /// Boolean.
    pub const BOOLEAN: u8 = 3;
    /// Hexadecimal.
    pub const HEX: u8 = 4;
    /// Process id.
    pub const PID: u8 = 5;
    /// Thread id.
    pub const TID: u8 = 6;
    /// Big-endian port (u16).
    pub const PORT: u8 = 7;
    /// IPv4 address (u32, network order).
    pub const IPV4: u8 = 8;
    /// IPv6 address (binary).
    pub const IPV6: u8 = 9;
    /// Socket address (binary sockaddr).
    pub const SOCKETADDRESS: u8 = 10;
    /// XML text.
    pub const XML: u8 = 11;
    /// JSON text.
    pub const JSON: u8 = 12;
    /// Win32 error code.
    pub const WIN32ERROR: u8 = 13;
    /// NTSTATUS.
    pub const NTSTATUS: u8 = 14;
    /// HRESULT.
    pub const HRESULT: u8 = 15;
    /// Date-time.
    pub const DATETIME: u8 = 16;
    /// Signed decimal.
    pub const SIGNED: u8 = 17;
    /// Unsigned decimal.
    pub const UNSIGNED: u8 = 18;
    /// Culture-insensitive date-time.
    pub const DATETIME_CULTURE_INSENSITIVE: u8 = 33;
    /// UTF-8 text.
    pub const UTF8: u8 = 35;
    /// PKCS#7 with type info.
    pub const PKCS7_WITH_TYPE_INFO: u8 = 36;
    /// Code pointer.
    pub const CODE_POINTER: u8 = 37;
    /// UTC date-time.
    pub const DATETIME_UTC: u8 = 38;
    /// Flag: field tags follow.
    pub const CHAIN: u8 = 0x80;
    /// Mask of the type bits.
    pub const TYPE_MASK: u8 = 0x7F;

    /// The name TraceLoggingProvider.h gives an OutType (`TlgOut*` without the prefix), for
    /// documentation and reports.
    pub fn name(t: u8) -> &'static str {
        match t & TYPE_MASK {
            DEFAULT => "DEFAULT",
            NOPRINT => "NOPRINT",
            STRING => "STRING",
            BOOLEAN => "BOOLEAN",
            HEX => "HEX",
            PID => "PID",
            TID => "TID",
            PORT => "PORT",
            IPV4 => "IPV4",
            IPV6 => "IPV6",
            SOCKETADDRESS => "SOCKETADDRESS",
            XML => "XML",
            JSON => "JSON",
            WIN32ERROR => "WIN32ERROR",
            NTSTATUS => "NTSTATUS",
            HRESULT => "HRESULT",
            DATETIME => "DATETIME",
            SIGNED => "SIGNED",
            UNSIGNED => "UNSIGNED",
            DATETIME_CULTURE_INSENSITIVE => "DATETIME_CULTURE_INSENSITIVE",
            UTF8 => "UTF8",
            PKCS7_WITH_TYPE_INFO => "PKCS7_WITH_TYPE_INFO",
            CODE_POINTER => "CODE_POINTER",
            DATETIME_UTC => "DATETIME_UTC",
            _ => "?",
        }
    }
}
