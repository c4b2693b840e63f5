//! Clocks: the current time and file modification times in VHD seconds.

use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use vhd_nostd::time::from_unix;

fn unix_seconds(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_secs()).unwrap_or(i64::MAX),
    }
}

/// The current time in VHD seconds (since 2000-01-01 00:00:00 UTC).
pub fn now_vhd() -> u32 {
    from_unix(unix_seconds(SystemTime::now()))
}

/// The current Unix time in seconds.
pub fn now_unix() -> i64 {
    unix_seconds(SystemTime::now())
}

/// A file's modification time in VHD seconds (0 if the file system does not say).
pub fn mtime_vhd(path: &Path) -> std::io::Result<u32> {
    let m = std::fs::metadata(path)?;
    Ok(m.modified()
        .map(|t| from_unix(unix_seconds(t)))
        .unwrap_or(0))
}
