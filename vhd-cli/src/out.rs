//! Formatting shared by the subcommands: C number parsing (`strtoul`/`strtol`), the
//! `ctime`-style time string, and `read`'s decimal-or-hex numbers.

use vhd_nostd::time::to_unix;

/// Splits what `strtol` would read: leading white space, a sign, then decimal digits.
fn digits(s: &str) -> (bool, &str) {
    let t = s.trim_start_matches([' ', '\t', '\n', '\r', '\x0b', '\x0c']);
    let (neg, t) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let end = t
        .bytes()
        .position(|b| !b.is_ascii_digit())
        .unwrap_or(t.len());
    (neg, &t[..end])
}

/// `strtoull(s, NULL, 10)`: no digits give 0, overflow gives `u64::MAX`, a minus sign
/// negates modulo 2^64. Also reports whether it overflowed (`errno == ERANGE`).
pub fn strtoull(s: &str) -> (u64, bool) {
    let (neg, d) = digits(s);
    let mut v: u64 = 0;
    for b in d.bytes() {
        match v
            .checked_mul(10)
            .and_then(|x| x.checked_add(u64::from(b - b'0')))
        {
            Some(x) => v = x,
            None => return (u64::MAX, true),
        }
    }
    (if neg { v.wrapping_neg() } else { v }, false)
}

/// The C library's text for `errno` (positive), as `strerror` gives it.
pub fn strerror(errno: i32) -> String {
    let s = std::io::Error::from_raw_os_error(errno).to_string();
    match s.rfind(" (os error ") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}

/// `strtol(s, NULL, 10)` on a 64-bit `long`: saturating at the bounds.
pub fn strtol(s: &str) -> i64 {
    let (neg, d) = digits(s);
    let mut v: i64 = 0;
    for b in d.bytes() {
        let x = i64::from(b - b'0');
        v = match v.checked_mul(10).and_then(|v| {
            if neg {
                v.checked_sub(x)
            } else {
                v.checked_add(x)
            }
        }) {
            Some(v) => v,
            None => return if neg { i64::MIN } else { i64::MAX },
        };
    }
    v
}

/// `ctime_r` of a VHD timestamp in local time (the `TZ` environment variable applies),
/// without the newline: `Sat Jan  1 00:00:00 2000`.
pub fn time_string(vhd: u32) -> String {
    const DAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let Some(tm) = vhd_sys::local_time(to_unix(vhd)) else {
        return String::from("???");
    };
    let day = DAYS.get(tm.weekday as usize).copied().unwrap_or("???");
    let mon = MONTHS.get(tm.month as usize).copied().unwrap_or("???");
    format!(
        "{day} {mon}{:3} {:02}:{:02}:{:02} {}",
        tm.day, tm.hour, tm.minute, tm.second, tm.year
    )
}

/// A number as `read` prints it: `%llu`, or with `-x` `%#llx` (where 0 prints `0`).
pub fn conv(hex: bool, v: u64) -> String {
    if hex && v != 0 {
        format!("{v:#x}")
    } else {
        v.to_string()
    }
}

/// Prints `<message>: <err>` for a negative errno, the reference's usual error line.
pub fn err_line(msg: &str, err: i32) {
    println!("{msg}: {err}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn c_numbers() {
        assert_eq!(strtoull("12"), (12, false));
        assert_eq!(strtoull("  7abc"), (7, false));
        assert_eq!(strtoull("abc"), (0, false));
        assert_eq!(strtoull("-1"), (u64::MAX, false));
        assert_eq!(strtoull("99999999999999999999999"), (u64::MAX, true));
        assert_eq!(strtol("-56"), -56);
        assert_eq!(strtol("300x"), 300);
        assert_eq!(strtol("-99999999999999999999"), i64::MIN);
    }

    #[test]
    fn hex_numbers() {
        assert_eq!(conv(true, 0), "0");
        assert_eq!(conv(true, 512), "0x200");
        assert_eq!(conv(false, 512), "512");
    }
}
