//! GUIDs as ETW uses them: provider ids, activity ids, and the EventSource name-to-GUID rule.

use std::fmt;
use std::str::FromStr;

/// A GUID in Windows' mixed-endian memory layout (`Data1` u32, `Data2` u16, `Data3` u16, `Data4` 8 bytes).
///
/// The stored bytes are exactly what an ETL file holds, so copying a `Guid` into a record is a plain copy.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Guid(pub [u8; 16]);

/// The namespace GUID of the EventSource naming convention (`482C2DB2-C390-47C8-87F8-1A15BFC130FB`),
/// in the byte order that is hashed.
const EVENTSOURCE_NAMESPACE: [u8; 16] = [
    0x48, 0x2C, 0x2D, 0xB2, 0xC3, 0x90, 0x47, 0xC8, 0x87, 0xF8, 0x1A, 0x15, 0xBF, 0xC1, 0x30, 0xFB,
];

impl Guid {
    /// The all-zero GUID.
    pub const ZERO: Guid = Guid([0; 16]);

    /// Builds a GUID from its textual fields, as written `{d1-d2-d3-d4[0..2]-d4[2..8]}`.
    pub const fn from_fields(d1: u32, d2: u16, d3: u16, d4: [u8; 8]) -> Guid {
        let a = d1.to_le_bytes();
        let b = d2.to_le_bytes();
        let c = d3.to_le_bytes();
        Guid([
            a[0], a[1], a[2], a[3], b[0], b[1], c[0], c[1], d4[0], d4[1], d4[2], d4[3], d4[4],
            d4[5], d4[6], d4[7],
        ])
    }

    /// Builds a GUID from the 16 bytes as stored in memory (and in ETL files).
    pub const fn from_bytes(bytes: [u8; 16]) -> Guid {
        Guid(bytes)
    }

    /// The 16 bytes as stored in memory (and in ETL files).
    pub const fn to_bytes(self) -> [u8; 16] {
        self.0
    }

    /// The first field (`Data1`).
    pub fn data1(&self) -> u32 {
        u32::from_le_bytes([self.0[0], self.0[1], self.0[2], self.0[3]])
    }

    /// The provider GUID that Windows tools (EventSource, TraceLogging, `tracelog`) derive from a
    /// provider name: SHA-1 over a fixed namespace and the upper-cased name in UTF-16BE, first 16 bytes,
    /// version nibble 5. So `Guid::from_name("MyCompany-MyApp")` matches what PerfView shows as
    /// `*MyCompany-MyApp`.
    pub fn from_name(name: &str) -> Guid {
        let mut hasher = sha1_smol::Sha1::new();
        hasher.update(&EVENTSOURCE_NAMESPACE);
        let upper = name.to_uppercase();
        let mut utf16be = Vec::with_capacity(upper.len() * 2);
        for unit in upper.encode_utf16() {
            utf16be.extend_from_slice(&unit.to_be_bytes());
        }
        hasher.update(&utf16be);
        let digest = hasher.digest().bytes();
        let mut g = [0u8; 16];
        g.copy_from_slice(&digest[..16]);
        // The hash's bytes are taken as the in-memory layout (little-endian fields) and the version
        // nibble goes into the high nibble of Data3, i.e. byte 7.
        g[7] = (g[7] & 0x0F) | 0x50;
        Guid(g)
    }
}

impl fmt::Display for Guid {
    /// Registry format without braces, upper case: `3B5A7A4E-...`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = &self.0;
        write!(
            f,
            "{:08X}-{:04X}-{:04X}-{:02X}{:02X}-{:02X}{:02X}{:02X}{:02X}{:02X}{:02X}",
            self.data1(),
            u16::from_le_bytes([b[4], b[5]]),
            u16::from_le_bytes([b[6], b[7]]),
            b[8],
            b[9],
            b[10],
            b[11],
            b[12],
            b[13],
            b[14],
            b[15]
        )
    }
}

impl fmt::Debug for Guid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{{{self}}}")
    }
}

/// A string that is not a GUID.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a GUID: expected 8-4-4-4-12 hex digits, optionally in braces")]
pub struct ParseGuidError(pub String);

impl FromStr for Guid {
    type Err = ParseGuidError;

    fn from_str(s: &str) -> Result<Guid, ParseGuidError> {
        let err = || ParseGuidError(s.to_string());
        let t = s.trim();
        let t = t
            .strip_prefix('{')
            .and_then(|x| x.strip_suffix('}'))
            .unwrap_or(t);
        let parts: Vec<&str> = t.split('-').collect();
        let lens = [8, 4, 4, 4, 12];
        if parts.len() != 5 || parts.iter().zip(lens).any(|(p, n)| p.len() != n) {
            return Err(err());
        }
        if !parts
            .iter()
            .all(|p| p.bytes().all(|c| c.is_ascii_hexdigit()))
        {
            return Err(err());
        }
        let d1 = u32::from_str_radix(parts[0], 16).map_err(|_| err())?;
        let d2 = u16::from_str_radix(parts[1], 16).map_err(|_| err())?;
        let d3 = u16::from_str_radix(parts[2], 16).map_err(|_| err())?;
        let tail = format!("{}{}", parts[3], parts[4]);
        let mut d4 = [0u8; 8];
        for (i, byte) in d4.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&tail[i * 2..i * 2 + 2], 16).map_err(|_| err())?;
        }
        Ok(Guid::from_fields(d1, d2, d3, d4))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eventsource_names_map_to_the_guids_windows_uses() {
        assert_eq!(
            Guid::from_name("MyCompany-MyApp"),
            Guid::from_name("mycompany-myapp"),
            "the name is compared upper-cased"
        );
        // The example of TraceLoggingProvider.h's documentation.
        assert_eq!(
            Guid::from_name("MyCompany.MyComponent").to_string(),
            "CE5FA4EA-AB00-5402-8B76-9F76AC858FB5"
        );
    }

    #[test]
    fn parse_and_display_round_trip() {
        let g: Guid = "{3B5A7A4E-1A4C-4F3E-9C1D-0123456789AB}".parse().unwrap();
        assert_eq!(g.to_string(), "3B5A7A4E-1A4C-4F3E-9C1D-0123456789AB");
        assert_eq!(g.0[0], 0x4E, "Data1 is little-endian in memory");
        assert!("3B5A7A4E-1A4C-4F3E-9C1D".parse::<Guid>().is_err());
        assert!("ZZ5A7A4E-1A4C-4F3E-9C1D-0123456789AB"
            .parse::<Guid>()
            .is_err());
    }
}
