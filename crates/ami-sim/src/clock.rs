//! Calendar text from Unix seconds, without a date crate (only UTC is ever shown).

/// `(year, month, day)` of a day count since 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// `2026-11-23` and `04:39:54` for Unix seconds.
pub(crate) fn date_and_time(epoch: u64) -> (String, String) {
    let secs = epoch as i64;
    let (y, m, d) = civil_from_days(secs.div_euclid(86_400));
    let rem = secs.rem_euclid(86_400);
    (
        format!("{y:04}-{m:02}-{d:02}"),
        format!("{:02}:{:02}:{:02}", rem / 3600, rem / 60 % 60, rem % 60),
    )
}

/// `Mon, 23 Nov 2026 04:42:24 GMT` (the HTTP `Date` header).
pub(crate) fn http_date(epoch: u64) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let secs = epoch as i64;
    let days = secs.div_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    let rem = secs.rem_euclid(86_400);
    format!(
        "{}, {d:02} {} {y:04} {:02}:{:02}:{:02} GMT",
        DAYS[days.rem_euclid(7) as usize],
        MONTHS[(m as usize).saturating_sub(1) % 12],
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

/// `2026-11-23 04:39:54` (CDR times).
pub(crate) fn format_datetime(epoch: u64) -> String {
    let (date, time) = date_and_time(epoch);
    format!("{date} {time}")
}

/// `2026-11-23T04:39:55.224+0000` (security events' EventTV).
pub(crate) fn event_tv(epoch_micros: u128) -> String {
    let (date, time) = date_and_time((epoch_micros / 1_000_000) as u64);
    format!("{date}T{time}.{:03}+0000", (epoch_micros / 1000) % 1000)
}

/// Ping's `Timestamp` text (`1795408806.781162`), written digit by digit rather than with
/// `format!`: it is made for every read that holds a Ping, and the formatting machinery and
/// the String's regrowth showed in the simulator's profile.
pub(crate) fn ping_timestamp(secs: u64, micros: u32) -> String {
    let mut digits = [0u8; 20];
    let mut start = digits.len();
    let mut rest = secs;
    loop {
        start -= 1;
        digits[start] = b'0' + (rest % 10) as u8;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    let mut fraction = [0u8; 6];
    let mut rest = micros % 1_000_000;
    for digit in fraction.iter_mut().rev() {
        *digit = b'0' + (rest % 10) as u8;
        rest /= 10;
    }
    let mut text = String::with_capacity(digits.len() - start + 7);
    text.extend(digits[start..].iter().map(|&d| char::from(d)));
    text.push('.');
    text.extend(fraction.iter().map(|&d| char::from(d)));
    text
}

/// `7 minutes, 16 seconds` as the CLI prints an uptime.
pub(crate) fn cli_duration(mut secs: u64) -> String {
    let mut parts = Vec::new();
    for (unit, size) in [("day", 86_400), ("hour", 3_600), ("minute", 60)] {
        let n = secs / size;
        secs %= size;
        if n > 0 {
            parts.push(format!("{n} {unit}{}", if n == 1 { "" } else { "s" }));
        }
    }
    if secs > 0 || parts.is_empty() {
        parts.push(format!("{secs} second{}", if secs == 1 { "" } else { "s" }));
    }
    parts.join(", ")
}

/// `00:00:11` (CoreShowChannel Duration).
pub(crate) fn hms(secs: u64) -> String {
    format!("{:02}:{:02}:{:02}", secs / 3600, secs / 60 % 60, secs % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_dates() {
        assert_eq!(http_date(1_795_408_944), "Mon, 23 Nov 2026 04:42:24 GMT");
        assert_eq!(http_date(0), "Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(format_datetime(0), "1970-01-01 00:00:00");
        assert_eq!(format_datetime(1_795_408_795), "2026-11-23 04:39:55");
        assert_eq!(
            event_tv(1_795_408_795_224_000),
            "2026-11-23T04:39:55.224+0000"
        );
    }

    #[test]
    fn timestamps_read_as_format_would_write_them() {
        for (secs, micros) in [
            (0, 0),
            (1_795_408_806, 781_162),
            (9, 5),
            (10, 999_999),
            (u64::MAX, 1),
        ] {
            assert_eq!(ping_timestamp(secs, micros), format!("{secs}.{micros:06}"));
        }
    }

    #[test]
    fn cli_durations() {
        assert_eq!(cli_duration(436), "7 minutes, 16 seconds");
        assert_eq!(cli_duration(53), "53 seconds");
        assert_eq!(cli_duration(0), "0 seconds");
        assert_eq!(hms(3671), "01:01:11");
    }
}
