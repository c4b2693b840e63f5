//! A progress bar for long operations, drawn on stderr only when stderr is a terminal,
//! so scripted output (stdout, and stderr in a pipe) stays byte-identical.

use std::io::{IsTerminal, Write};

/// Draws `label [#####     ]  42%` on a terminal; does nothing otherwise.
pub struct Progress {
    label: &'static str,
    on: bool,
    last: u64,
}

impl Progress {
    /// A bar for `label`, active only if stderr is a terminal.
    pub fn new(label: &'static str) -> Progress {
        Progress {
            label,
            on: std::io::stderr().is_terminal(),
            last: u64::MAX,
        }
    }

    /// Shows `done` of `total`; redraws only when the percentage changes.
    pub fn update(&mut self, done: u64, total: u64) {
        if !self.on || total == 0 {
            return;
        }
        let pct = done.min(total) * 100 / total;
        if pct == self.last {
            return;
        }
        self.last = pct;
        let fill = (pct / 5) as usize;
        let mut err = std::io::stderr().lock();
        let _ = write!(
            err,
            "\r{} [{:<20}] {:3}%",
            self.label,
            "#".repeat(fill),
            pct
        );
        if pct == 100 {
            let _ = writeln!(err);
        }
        let _ = err.flush();
    }
}
