//! An env-gated timeline of the parallel check (`RDBKIT_TRACE=1`): each thread's waits,
//! pieces and phases with their time since the check began, and each thread's CPU time and
//! minor faults, printed to stderr at the end (see [`crate::parallel`] and the README's
//! "Session 11: scaling and the record walk"). Off, it costs one relaxed load an event.

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::Instant;

static STATE: AtomicU8 = AtomicU8::new(0);
static START: OnceLock<Instant> = OnceLock::new();
static EVENTS: Mutex<Vec<(u8, &'static str, u64)>> = Mutex::new(Vec::new());

/// Whether the trace is on (read from the environment once).
#[inline]
pub fn on() -> bool {
    match STATE.load(Ordering::Relaxed) {
        0 => {
            let on = std::env::var_os("RDBKIT_TRACE").is_some();
            STATE.store(if on { 2 } else { 1 }, Ordering::Relaxed);
            if on {
                START.get_or_init(Instant::now);
            }
            on
        }
        s => s == 2,
    }
}

/// Records event `what` of thread `who` now.
#[inline]
pub fn mark(who: u8, what: &'static str) {
    if on() {
        let t = START.get_or_init(Instant::now).elapsed().as_nanos() as u64;
        EVENTS
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push((who, what, t));
    }
}

/// Records the calling thread's CPU time so far (`cpu`, ns, from
/// `/proc/thread-self/schedstat`) and its minor faults (`minflt`) as events of `who`.
pub fn cpu(who: u8) {
    if !on() {
        return;
    }
    let cpu = std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split(' ').next()?.parse::<u64>().ok());
    // Field 10 of `stat`, counted after the command name's closing parenthesis.
    let minflt = std::fs::read_to_string("/proc/thread-self/stat")
        .ok()
        .and_then(|s| s.rsplit(')').next()?.split(' ').nth(8)?.parse::<u64>().ok());
    let mut ev = EVENTS.lock().unwrap_or_else(|p| p.into_inner());
    ev.push((who, "cpu", cpu.unwrap_or(0)));
    ev.push((who, "minflt", minflt.unwrap_or(0)));
}

/// Prints the events recorded so far to stderr and forgets them.
pub fn dump() {
    if !on() {
        return;
    }
    let ev = std::mem::take(&mut *EVENTS.lock().unwrap_or_else(|p| p.into_inner()));
    let mut out = String::new();
    for (who, what, t) in ev {
        out.push_str(&format!("T {who} {what} {t}\n"));
    }
    eprint!("{out}");
}
