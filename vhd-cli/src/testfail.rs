//! Failure injection as the reference's `TEST_FAIL_AT`: when the environment variable
//! `VHD_UTIL_TEST_FAIL_<POINT>` is set (even empty), reaching the point prints
//! `Failing at <VARNAME>` and exits with status 22 at once, without cleaning up.

/// The injection points.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Point {
    /// Before `modify -p` changes anything.
    ReparentBegin,
    /// `modify -p`: after the locators, before the header.
    ReparentLocator,
    /// After `modify -p` wrote everything.
    ReparentEnd,
    /// `resize`: after the journal is created.
    ResizeBegin,
    /// `resize`: after data blocks were moved.
    ResizeDataMoved,
    /// `resize`: after the metadata was moved.
    ResizeMetadataMoved,
    /// `resize`: after the resize, before the journal is committed.
    ResizeEnd,
}

impl Point {
    /// The environment variable arming the point.
    pub fn var(self) -> &'static str {
        match self {
            Point::ReparentBegin => "VHD_UTIL_TEST_FAIL_REPARENT_BEGIN",
            Point::ReparentLocator => "VHD_UTIL_TEST_FAIL_REPARENT_LOCATOR",
            Point::ReparentEnd => "VHD_UTIL_TEST_FAIL_REPARENT_END",
            Point::ResizeBegin => "VHD_UTIL_TEST_FAIL_RESIZE_BEGIN",
            Point::ResizeDataMoved => "VHD_UTIL_TEST_FAIL_RESIZE_DATA_MOVED",
            Point::ResizeMetadataMoved => "VHD_UTIL_TEST_FAIL_RESIZE_METADATA_MOVED",
            Point::ResizeEnd => "VHD_UTIL_TEST_FAIL_RESIZE_END",
        }
    }
}

/// Exits the process (status 22) if `point` is armed.
pub fn at(point: Point) {
    if std::env::var_os(point.var()).is_some() {
        println!("Failing at {}", point.var());
        std::process::exit(libc::EINVAL);
    }
}
