//! Numbers as commands and configuration entries write them: decimal, or hex after `0x`.

/// `s` as a number: decimal, or hex after `0x` (or `0X`); `None` if it is neither.
pub fn parse(s: &str) -> Option<u64> {
    match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(h) => u64::from_str_radix(h, 16).ok(),
        None => s.parse().ok(),
    }
}

/// [`parse`], for a number that must fit 32 bits (a REG_DWORD, a flags word).
pub fn parse_u32(s: &str) -> Option<u32> {
    parse(s).and_then(|n| u32::try_from(n).ok())
}

#[cfg(test)]
mod tests {
    #[test]
    fn decimal_and_hex() {
        assert_eq!(super::parse("42"), Some(42));
        assert_eq!(super::parse("0x2A"), Some(42));
        assert_eq!(super::parse("0X2a"), Some(42));
        assert_eq!(super::parse("x2a"), None);
        assert_eq!(super::parse_u32("0x100000000"), None);
    }
}
