//! FILETIME and wall-clock text, without a date library.

/// FILETIME (100 ns units since 1601-01-01 UTC) of the Unix epoch.
pub const FILETIME_UNIX_EPOCH: i64 = 116_444_736_000_000_000;

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian (H. Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Days since 1970-01-01 of a civil date (inverse of `civil_from_days`).
pub(crate) fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Nanoseconds since the Unix epoch as RFC 3339 UTC with nanosecond digits,
/// e.g. `2020-08-04T12:34:56.123456789Z`.
pub fn unix_nanos_to_rfc3339(ns: i64) -> String {
    let secs = ns.div_euclid(1_000_000_000);
    let frac = ns.rem_euclid(1_000_000_000);
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    let (y, mo, d) = civil_from_days(days);
    format!(
        "{y:04}-{mo:02}-{d:02}T{:02}:{:02}:{:02}.{frac:09}Z",
        sod / 3600,
        sod / 60 % 60,
        sod % 60
    )
}

/// A FILETIME (100 ns units since 1601) as RFC 3339 UTC with 100 ns digits,
/// e.g. `2020-08-04T12:34:56.1234567Z`.
pub fn filetime_to_rfc3339(ft: i64) -> String {
    let rel = i128::from(ft) - i128::from(FILETIME_UNIX_EPOCH);
    let secs = rel.div_euclid(10_000_000) as i64;
    let frac = rel.rem_euclid(10_000_000);
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    let (y, mo, d) = civil_from_days(days);
    format!(
        "{y:04}-{mo:02}-{d:02}T{:02}:{:02}:{:02}.{frac:07}Z",
        sod / 3600,
        sod / 60 % 60,
        sod % 60
    )
}

/// Parses RFC 3339 text (`2024-01-02T03:04:05Z`, optional fraction of up to 9 digits, `Z` or
/// `±hh:mm`; a space may replace `T`) into nanoseconds since the Unix epoch.
pub fn rfc3339_to_unix_nanos(s: &str) -> Option<i64> {
    let b = s.trim().as_bytes();
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let t = b.get(r)?;
        if t.is_empty() || !t.iter().all(u8::is_ascii_digit) {
            return None;
        }
        std::str::from_utf8(t).ok()?.parse().ok()
    };
    if b.len() < 19
        || b[4] != b'-'
        || b[7] != b'-'
        || !matches!(b[10], b'T' | b't' | b' ')
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || sec > 60 {
        return None;
    }
    let mut at = 19;
    let mut frac_ns = 0i64;
    if b.get(at) == Some(&b'.') {
        let start = at + 1;
        let mut end = start;
        while end < b.len() && b[end].is_ascii_digit() {
            end += 1;
        }
        if end == start || end - start > 9 {
            return None;
        }
        frac_ns = num(start..end)? * 10i64.pow(9 - (end - start) as u32);
        at = end;
    }
    let offset_s = match b.get(at..)? {
        [b'Z' | b'z'] => 0,
        [sign @ (b'+' | b'-'), ..] if b.len() == at + 6 && b[at + 3] == b':' => {
            let o = num(at + 1..at + 3)? * 3600 + num(at + 4..at + 6)? * 60;
            if *sign == b'+' {
                o
            } else {
                -o
            }
        }
        _ => return None,
    };
    let days = days_from_civil(y, mo as u32, d as u32);
    let secs = days * 86_400 + h * 3600 + mi * 60 + sec - offset_s;
    secs.checked_mul(1_000_000_000)?.checked_add(frac_ns)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epochs_and_known_dates() {
        assert_eq!(
            filetime_to_rfc3339(FILETIME_UNIX_EPOCH),
            "1970-01-01T00:00:00.0000000Z"
        );
        assert_eq!(filetime_to_rfc3339(0), "1601-01-01T00:00:00.0000000Z");
        // StartTime of lxcore_kernel.etl.
        assert_eq!(
            filetime_to_rfc3339(0x01D6_59D6_EE63_9CE3),
            "2020-07-14T12:04:31.1387363Z"
        );
        assert_eq!(
            unix_nanos_to_rfc3339(1_500_000_000_123_456_789),
            "2017-07-14T02:40:00.123456789Z"
        );
        assert_eq!(unix_nanos_to_rfc3339(-1), "1969-12-31T23:59:59.999999999Z");
        for days in [-800_000, -1, 0, 59, 60, 365, 11_016, 2_932_896] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
        let _ = filetime_to_rfc3339(i64::MIN);
        let _ = filetime_to_rfc3339(i64::MAX);
        let _ = unix_nanos_to_rfc3339(i64::MIN);
    }

    #[test]
    fn parses_rfc3339() {
        let ns = 1_500_000_000_123_456_789;
        assert_eq!(rfc3339_to_unix_nanos(&unix_nanos_to_rfc3339(ns)), Some(ns));
        assert_eq!(rfc3339_to_unix_nanos("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(
            rfc3339_to_unix_nanos("1970-01-01 01:00:00.5+01:00"),
            Some(500_000_000)
        );
        assert_eq!(
            rfc3339_to_unix_nanos("1970-01-01T00:00:00-00:30"),
            Some(1_800_000_000_000)
        );
        for bad in [
            "",
            "1970-01-01",
            "1970-13-01T00:00:00Z",
            "1970-01-01T00:00:00",
            "1970-01-01T00:00:00.Z",
            "x970-01-01T00:00:00Z",
            "1970-01-01T00:00:00+0100",
        ] {
            assert_eq!(rfc3339_to_unix_nanos(bad), None, "{bad}");
        }
    }
}
