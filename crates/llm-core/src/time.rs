//! Calendar arithmetic shared by crates that stamp dates (spend days, request signatures).

/// Days since 1970-01-01 to a proleptic Gregorian `(year, month, day)`, by the era-based method;
/// valid for any `i64` day count a `SystemTime` can produce.
///
/// ```
/// assert_eq!(llm_core::civil_from_days(0), (1970, 1, 1));
/// assert_eq!(llm_core::civil_from_days(11_016), (2000, 2, 29));
/// assert_eq!(llm_core::civil_from_days(-1), (1969, 12, 31));
/// ```
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}
