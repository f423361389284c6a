//! Progress bars on stderr: drawn only when stderr is a terminal and `--quiet` is off, so
//! pipes, cron mail and tests never see them. [`Progress`] counts bytes of one input (shown
//! once the work has taken a second); [`CountProgress`] counts items (`verify`'s backups).

use std::io::{self, IsTerminal};

/// A progress bar on stderr for long work: drawn only when stderr is a terminal, `--quiet` is
/// off, and the work has already taken a second.
pub struct Progress {
    bar: Option<indicatif::ProgressBar>,
    start: std::time::Instant,
    shown: bool,
    tick: u32,
}

impl Progress {
    /// A bar over `total` bytes (a spinner when unknown); none when `quiet`.
    pub fn new(total: Option<u64>, quiet: bool) -> Progress {
        let bar = (!quiet && io::stderr().is_terminal()).then(|| {
            let b = match total {
                Some(n) => indicatif::ProgressBar::with_draw_target(
                    Some(n),
                    indicatif::ProgressDrawTarget::hidden(),
                ),
                None => indicatif::ProgressBar::hidden(),
            };
            if let Ok(style) = indicatif::ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {wide_bar} {bytes}/{total_bytes} ({bytes_per_sec}, eta {eta})",
            ) {
                b.set_style(style);
            }
            b
        });
        Progress {
            bar,
            start: std::time::Instant::now(),
            shown: false,
            tick: 0,
        }
    }

    /// Reports the byte position (cheap: looks at the clock every 1024 calls).
    pub fn set(&mut self, pos: u64) {
        let Some(bar) = &self.bar else { return };
        self.tick = self.tick.wrapping_add(1);
        if !self.tick.is_multiple_of(1024) {
            return;
        }
        if !self.shown && self.start.elapsed().as_millis() >= 1000 {
            bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
            self.shown = true;
        }
        bar.set_position(pos);
    }

    /// Clears the bar.
    pub fn finish(&self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
}

/// A progress bar of items done (`verify`'s backups) on stderr, only when it is a terminal
/// (never in cron's mail); shared by the worker threads.
pub struct CountProgress {
    bar: Option<indicatif::ProgressBar>,
}

impl CountProgress {
    pub fn new(total: usize, quiet: bool) -> CountProgress {
        let on = !quiet && total > 1 && io::stderr().is_terminal();
        let bar = on.then(|| {
            let b = indicatif::ProgressBar::new(total as u64);
            if let Ok(style) = indicatif::ProgressStyle::with_template(
                "[{elapsed_precise}] {wide_bar} {pos}/{len} backups {msg}",
            ) {
                b.set_style(style);
            }
            b
        });
        CountProgress { bar }
    }
    /// One item done: `name`.
    pub fn tick(&self, name: &str) {
        if let Some(b) = &self.bar {
            b.set_message(name.to_string());
            b.inc(1);
        }
    }
    /// Clears the bar.
    pub fn finish(&self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
}
