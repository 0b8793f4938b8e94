//! Times on the command line: milliseconds since the Unix epoch, or RFC 3339
//! (`2024-05-01T12:00:00Z`, `2024-05-01T14:00:00.250+02:00`).

/// A point in time, in milliseconds since the Unix epoch (a record timestamp's unit).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Instant(pub(crate) i64);

/// Parses `s` as milliseconds since the epoch, else as an RFC 3339 date-time.
pub(crate) fn parse(s: &str) -> Result<Instant, String> {
    if let Ok(ms) = s.parse::<i64>() {
        return Ok(Instant(ms));
    }
    rfc3339(s).ok_or_else(|| {
        format!("`{s}` is neither milliseconds since the epoch nor an RFC 3339 time (2024-05-01T12:00:00Z)")
    })
}

fn rfc3339(s: &str) -> Option<Instant> {
    let b = s.as_bytes();
    // YYYY-MM-DDTHH:MM:SS is 19 bytes; a zone follows, fractions may come first.
    if b.len() < 20 || !s.is_ascii() {
        return None;
    }
    let num = |range: std::ops::Range<usize>| -> Option<i64> {
        let part = &s[range];
        part.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| part.parse().ok())
            .flatten()
    };
    if b[4] != b'-'
        || b[7] != b'-'
        || !matches!(b[10], b'T' | b't' | b' ')
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return None;
    }
    // 60: a leap second, which Unix time folds into the next.
    if hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let mut rest = &s[19..];
    let mut millis = 0;
    if let Some(fraction) = rest.strip_prefix('.') {
        let digits = fraction.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        // Milliseconds: the first three digits, the rest dropped (a timestamp's precision).
        for (i, c) in fraction.bytes().take(3).enumerate() {
            millis += i64::from(c - b'0') * [100, 10, 1][i];
        }
        rest = &fraction[digits..];
    }
    let offset_minutes = match rest {
        "Z" | "z" => 0,
        zone if zone.len() == 6 && zone.as_bytes()[3] == b':' => {
            let sign = match zone.as_bytes()[0] {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            let (h, m) = (num_in(&zone[1..3])?, num_in(&zone[4..6])?);
            if h > 23 || m > 59 {
                return None;
            }
            sign * (h * 60 + m)
        }
        _ => return None,
    };
    let days = days_from_civil(year, month, day);
    let seconds = days * 86_400 + hour * 3600 + minute * 60 + second - offset_minutes * 60;
    Some(Instant(seconds * 1000 + millis))
}

fn num_in(s: &str) -> Option<i64> {
    s.bytes()
        .all(|c| c.is_ascii_digit())
        .then(|| s.parse().ok())
        .flatten()
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days from 1970-01-01 to the proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::{parse, Instant};

    #[test]
    fn milliseconds_and_rfc3339_agree() {
        assert_eq!(parse("0"), Ok(Instant(0)));
        assert_eq!(parse("1970-01-01T00:00:00Z"), Ok(Instant(0)));
        assert_eq!(
            parse("2024-05-01T12:00:00Z"),
            Ok(Instant(1_714_564_800_000))
        );
        assert_eq!(
            parse("2024-05-01T14:00:00.250+02:00"),
            Ok(Instant(1_714_564_800_250))
        );
        assert_eq!(
            parse("2000-02-29T00:00:00-00:30"),
            Ok(Instant(951_784_200_000))
        );
    }

    #[test]
    fn malformed_times_are_refused() {
        for bad in [
            "",
            "yesterday",
            "2024-02-30T00:00:00Z",
            "2024-05-01T12:00:00",
            "2024-05-01T24:00:00Z",
            "2024-05-01T12:00:00.Z",
            "2024-05-01T12:00:00+2:00",
            "２０２４-05-01T12:00:00Z",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }
}
