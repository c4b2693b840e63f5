//! VHD timestamps: seconds since 2000-01-01 00:00:00 UTC, stored in 32 bits.

/// Unix time of the VHD epoch, 2000-01-01 00:00:00 UTC.
pub const VHD_EPOCH_UNIX: i64 = 946_684_800;

/// Converts Unix seconds to VHD seconds, clamped to the 32-bit field (libvhd's `vhd_time`
/// truncates instead; clamping keeps pre-2000 and post-2136 times monotonic).
pub const fn from_unix(unix: i64) -> u32 {
    let v = unix.saturating_sub(VHD_EPOCH_UNIX);
    if v < 0 {
        0
    } else if v > u32::MAX as i64 {
        u32::MAX
    } else {
        v as u32
    }
}

/// Converts VHD seconds to Unix seconds.
pub const fn to_unix(vhd: u32) -> i64 {
    vhd as i64 + VHD_EPOCH_UNIX
}

/// A broken-down UTC time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DateTime {
    /// Year, e.g. 2016.
    pub year: i32,
    /// Month, 1–12.
    pub month: u8,
    /// Day of the month, 1–31.
    pub day: u8,
    /// Hour, 0–23.
    pub hour: u8,
    /// Minute, 0–59.
    pub minute: u8,
    /// Second, 0–59.
    pub second: u8,
    /// Day of the week, 0 = Sunday.
    pub weekday: u8,
}

impl DateTime {
    /// Breaks down a VHD timestamp into a UTC date and time.
    pub const fn from_vhd(vhd: u32) -> DateTime {
        let unix = to_unix(vhd);
        let days = unix.div_euclid(86_400);
        let secs = unix.rem_euclid(86_400);
        // Civil-from-days (proleptic Gregorian), shifted so the year starts in March.
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z.rem_euclid(146_097);
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = doy - (153 * mp + 2) / 5 + 1;
        let month = if mp < 10 { mp + 3 } else { mp - 9 };
        let year = yoe + era * 400 + if month <= 2 { 1 } else { 0 };
        DateTime {
            year: year as i32,
            month: month as u8,
            day: day as u8,
            hour: (secs / 3600) as u8,
            minute: (secs / 60 % 60) as u8,
            second: (secs % 60) as u8,
            // 1970-01-01 was a Thursday.
            weekday: (days + 4).rem_euclid(7) as u8,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epoch_conversions() {
        assert_eq!(from_unix(VHD_EPOCH_UNIX), 0);
        assert_eq!(from_unix(0), 0);
        assert_eq!(from_unix(i64::MAX), u32::MAX);
        assert_eq!(to_unix(from_unix(1_500_000_000)), 1_500_000_000);
    }

    #[test]
    fn sample_image_timestamps() {
        // From the sample images' notes (tests/data/images): 509016516 = 2016-02-17 09:28:36.
        let d = DateTime::from_vhd(509_016_516);
        assert_eq!(
            (d.year, d.month, d.day, d.hour, d.minute, d.second),
            (2016, 2, 17, 9, 28, 36)
        );
        assert_eq!(d.weekday, 3); // a Wednesday
        let d = DateTime::from_vhd(680_278_055);
        assert_eq!(
            (d.year, d.month, d.day, d.hour, d.minute, d.second),
            (2021, 7, 22, 14, 7, 35)
        );
        let d = DateTime::from_vhd(0);
        assert_eq!((d.year, d.month, d.day, d.weekday), (2000, 1, 1, 6));
    }
}
