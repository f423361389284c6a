//! A mapped file that another process truncates makes later reads of the vanished pages fault
//! (SIGBUS), which kills the process. This module turns that fault into a clean error.
//!
//! Linux only. [`RdbFile`](crate::RdbFile) registers each map here; a process-wide SIGBUS
//! handler (installed once, chaining to whatever handler was there before) looks the faulting
//! address up and, when it lies in a registered map, replaces that page with a page of zeros
//! (`mmap(MAP_FIXED | MAP_ANONYMOUS)` over it) and marks the map as damaged, then returns: the
//! faulting read is retried and sees zeros. No `longjmp`, no unwinding through Rust frames:
//! the reader only sees bytes that differ from what the file held, which a file rewritten in
//! place can do as well. The parser then refuses to trust anything it read from that map
//! ([`RdbFile::check_unchanged`](crate::RdbFile::check_unchanged)): the damage flag is
//! checked at every record, and the file's size (`fstat`) at the end and on any error (a cut
//! inside the last page never faults: the kernel shows zeros there).
//!
//! Residual risks: `mmap` is not on POSIX's list of async-signal-safe functions (on Linux it
//! is a plain system call); more than [`SLOTS`] maps open at once are not protected (they
//! fault as before); a file rewritten in place without changing its size is not detected
//! (Redis never does that: it renames a new file over the old one).

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// Maps protected at once.
pub(crate) const SLOTS: usize = 64;

/// A registered map: its address range and whether a page of it was replaced.
pub(crate) struct Slot {
    /// 0 = free, `usize::MAX` = being claimed, else the map's first byte.
    start: AtomicUsize,
    len: AtomicUsize,
    faulted: AtomicBool,
}

impl Slot {
    /// Whether a read of this map faulted (the file shrank under it).
    pub(crate) fn faulted(&self) -> bool {
        self.faulted.load(Ordering::Relaxed)
    }

    /// Frees the slot (before the map is unmapped).
    pub(crate) fn release(&self) {
        self.start.store(0, Ordering::SeqCst);
    }
}

#[allow(clippy::declare_interior_mutable_const)]
const FREE: Slot = Slot {
    start: AtomicUsize::new(0),
    len: AtomicUsize::new(0),
    faulted: AtomicBool::new(false),
};
static TABLE: [Slot; SLOTS] = [FREE; SLOTS];

/// Registers the map `[start, start + len)`; `None` when every slot is taken or on other
/// systems than Linux (the map is then unprotected).
pub(crate) fn register(start: *const u8, len: usize) -> Option<&'static Slot> {
    if !imp::install() {
        return None;
    }
    for slot in &TABLE {
        if slot
            .start
            .compare_exchange(0, usize::MAX, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok()
        {
            slot.len.store(len, Ordering::SeqCst);
            slot.faulted.store(false, Ordering::SeqCst);
            slot.start.store(start as usize, Ordering::SeqCst);
            return Some(slot);
        }
    }
    None
}

#[cfg(target_os = "linux")]
mod imp {
    use super::{Ordering, TABLE};
    use std::sync::atomic::AtomicUsize;
    use std::sync::OnceLock;

    static PAGE: AtomicUsize = AtomicUsize::new(4096);
    /// The disposition before ours, to chain to for faults outside our maps.
    static PREVIOUS: OnceLock<Option<libc::sigaction>> = OnceLock::new();

    /// Installs the handler once; false when that failed.
    pub(super) fn install() -> bool {
        PREVIOUS
            .get_or_init(|| {
                // SAFETY: sysconf has no preconditions.
                let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
                if page > 0 {
                    PAGE.store(page as usize, Ordering::SeqCst);
                }
                // SAFETY: a zeroed sigaction is a valid starting point; the handler has the
                // SA_SIGINFO signature; `old` receives the previous disposition.
                unsafe {
                    let mut sa: libc::sigaction = std::mem::zeroed();
                    sa.sa_sigaction = on_sigbus as *const () as usize;
                    sa.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK;
                    libc::sigemptyset(&mut sa.sa_mask);
                    let mut old: libc::sigaction = std::mem::zeroed();
                    if libc::sigaction(libc::SIGBUS, &sa, &mut old) == 0 {
                        Some(old)
                    } else {
                        None
                    }
                }
            })
            .is_some()
    }

    extern "C" fn on_sigbus(sig: libc::c_int, info: *mut libc::siginfo_t, ctx: *mut libc::c_void) {
        // SAFETY: the kernel passes a valid siginfo for a SA_SIGINFO handler.
        let addr = unsafe { (*info).si_addr() } as usize;
        for slot in &TABLE {
            let start = slot.start.load(Ordering::SeqCst);
            if start == 0 || start == usize::MAX {
                continue;
            }
            let len = slot.len.load(Ordering::SeqCst);
            if addr >= start && addr - start < len {
                let page = PAGE.load(Ordering::Relaxed);
                let base = addr & !(page - 1);
                // SAFETY: the page lies in a live read-only map this process owns (the slot is
                // released before the map is unmapped); replacing it with zeros changes only
                // what the reader sees, like a file changed in place would.
                let r = unsafe {
                    libc::mmap(
                        base as *mut libc::c_void,
                        page,
                        libc::PROT_READ,
                        libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED,
                        -1,
                        0,
                    )
                };
                if r != libc::MAP_FAILED {
                    slot.faulted.store(true, Ordering::SeqCst);
                    return;
                }
            }
        }
        chain(sig, info, ctx);
    }

    /// A fault that is not ours: what would have happened without this handler.
    fn chain(sig: libc::c_int, info: *mut libc::siginfo_t, ctx: *mut libc::c_void) {
        let Some(Some(old)) = PREVIOUS.get() else {
            return;
        };
        let h = old.sa_sigaction;
        if h == libc::SIG_DFL || h == libc::SIG_IGN {
            // Back to the default: the faulting instruction runs again and the signal kills
            // the process as it always would.
            // SAFETY: restoring a disposition the kernel gave us.
            unsafe {
                libc::sigaction(libc::SIGBUS, old, std::ptr::null_mut());
            }
            return;
        }
        // SAFETY: calling the previous handler as its flags say it expects to be called.
        unsafe {
            if old.sa_flags & libc::SA_SIGINFO != 0 {
                let f: extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void) =
                    std::mem::transmute(h);
                f(sig, info, ctx);
            } else {
                let f: extern "C" fn(libc::c_int) = std::mem::transmute(h);
                f(sig);
            }
        }
    }
}

#[cfg(not(target_os = "linux"))]
mod imp {
    pub(super) fn install() -> bool {
        false
    }
}
