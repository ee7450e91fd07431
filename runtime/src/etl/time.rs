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
}
