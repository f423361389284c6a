//! Redis's LZF format (liblzf 3.x as vendored in `src/lzf_*.c`; read by `rdbLoadLzfStringObject`, `src/rdb.c`).
//!
//! A stream is a sequence of instructions, each starting with a control byte:
//! * `ctrl < 32`: a literal run of `ctrl + 1` bytes that follow;
//! * otherwise a back-reference: length `ctrl >> 5` (7 means "add the next byte") plus 2, and
//!   distance `((ctrl & 0x1f) << 8) + next byte + 1` back from the current output position.
//!   A back-reference may overlap the bytes it produces (distance < length), which repeats
//!   the last `distance` bytes.
//!
//! Redis accepts a compressed string only when the stream produces exactly the announced
//! uncompressed length, so both the decoder and [`validate`] insist on that.

use crate::entry::BlobError;

const CONTAINER: &str = "lzf";
/// Longest literal run one control byte can announce.
const MAX_LIT: usize = 32;
/// Longest back-reference: 2 + 7 + 255.
const MAX_REF: usize = 264;
/// Farthest back-reference: 13 bits of distance - 1.
const MAX_OFF: usize = 1 << 13;
/// Most output one input byte can yield: a 3-byte back-reference produces 264 bytes.
const MAX_RATIO: usize = MAX_REF / 3;

#[inline]
fn err(offset: usize, what: impl Into<std::borrow::Cow<'static, str>>) -> BlobError {
    BlobError::new(CONTAINER, offset, what)
}

/// One decoded instruction.
enum Op {
    /// Literal bytes `src[start..start + len]`.
    Literal { start: usize, len: usize },
    /// Copy `len` bytes from `dist` bytes back.
    BackRef { dist: usize, len: usize },
}

/// Decodes the instruction at `ip`, checking that it stays inside `src`, that it does not
/// produce more than `room` bytes and that a back-reference does not reach before the start
/// of the output (`produced` bytes so far). Returns the instruction and the next `ip`.
#[inline(always)]
fn next_op(src: &[u8], ip: usize, produced: usize, room: usize) -> Result<(Op, usize), BlobError> {
    let ctrl = src[ip] as usize; // caller guarantees ip < src.len()
    if ctrl < 32 {
        let len = ctrl + 1;
        let start = ip + 1;
        let left = src.len() - start;
        if len > left {
            return Err(err(
                ip,
                format!("literal run of {len} bytes runs past the end of the compressed data ({left} bytes left)"),
            ));
        }
        if len > room {
            return Err(err(
                ip,
                format!("literal run of {len} bytes overflows the expected length ({room} bytes left to produce)"),
            ));
        }
        return Ok((Op::Literal { start, len }, start + len));
    }
    let mut len = ctrl >> 5;
    let mut p = ip + 1;
    if len == 7 {
        match src.get(p) {
            Some(&b) => len += b as usize,
            None => return Err(err(ip, "back-reference is missing its length byte")),
        }
        p += 1;
    }
    let low = match src.get(p) {
        Some(&b) => b as usize,
        None => return Err(err(ip, "back-reference is missing its distance byte")),
    };
    p += 1;
    let len = len + 2;
    let dist = ((ctrl & 0x1f) << 8) + low + 1;
    if dist > produced {
        return Err(err(
            ip,
            format!("back-reference distance {dist} reaches before the start of the output ({produced} bytes produced)"),
        ));
    }
    if len > room {
        return Err(err(
            ip,
            format!("back-reference of {len} bytes overflows the expected length ({room} bytes left to produce)"),
        ));
    }
    Ok((Op::BackRef { dist, len }, p))
}

#[cold]
fn short_output(src_len: usize, produced: usize, expected_len: usize) -> BlobError {
    err(
        src_len,
        format!("compressed data ends after producing {produced} bytes, expected {expected_len}"),
    )
}

/// No instruction produces more than 88 bytes per byte it occupies (3 bytes -> 264), so a
/// larger claim is corrupt: refuse it before allocating or walking anything.
#[inline]
fn check_ratio(src: &[u8], expected_len: usize) -> Result<(), BlobError> {
    if expected_len > src.len().saturating_mul(MAX_RATIO) {
        return Err(err(
            0,
            format!(
                "expected length {expected_len} is more than {} compressed bytes can produce",
                src.len()
            ),
        ));
    }
    Ok(())
}

/// Bytes past the announced length that [`decompress_slice`] may write (and later overwrite or
/// drop): room for a fixed 32-byte literal copy or a 16-byte back-reference block.
const SLACK: usize = 32;

/// Decompresses `src` and appends exactly `expected_len` bytes to `out`, or returns an error
/// and leaves `out` as it was. Reserves `expected_len` bytes and a little slack (the caller
/// bounds it).
pub fn decompress_into(
    src: &[u8],
    expected_len: usize,
    out: &mut Vec<u8>,
) -> Result<(), BlobError> {
    check_ratio(src, expected_len)?;
    let base = out.len();
    let need = base + expected_len + SLACK;
    out.reserve_exact(need - base);
    // Zero-fill once (memset speed) and then write into a plain slice: cheaper than a capacity
    // check per instruction and keeps every write bounds-checked.
    out.resize(need, 0);
    let result = decompress_slice(src, &mut out[base..], expected_len);
    out.truncate(if result.is_ok() {
        base + expected_len
    } else {
        base
    });
    result
}

/// [`decompress_into`] into `buf`, replacing its contents: what `buf` already holds is
/// overwritten, not zeroed first (a buffer reused for many small blobs is filled only when it
/// grows). On success `buf` holds exactly the `expected_len` bytes; on error it is empty.
pub fn decompress_reusing(
    src: &[u8],
    expected_len: usize,
    buf: &mut Vec<u8>,
) -> Result<(), BlobError> {
    if let Err(e) = check_ratio(src, expected_len) {
        buf.clear();
        return Err(e);
    }
    let need = expected_len + SLACK;
    if buf.len() < need {
        buf.reserve_exact(need - buf.len());
        buf.resize(need, 0);
    }
    // Every byte of `buf[..expected_len]` is written by an instruction before the call
    // succeeds (`op == total` at the end, output produced strictly left to right).
    let result = decompress_slice(src, &mut buf[..need], expected_len);
    buf.truncate(if result.is_ok() { expected_len } else { 0 });
    result
}

/// Input bytes [`fast_op`] reads at an instruction: its control byte and 32 more.
const FAST_IN: usize = 33;

/// Decompresses `src` into exactly `total` bytes at the start of `dst`, which holds at least
/// [`SLACK`] more.
///
/// Most instructions go through [`fast_op`], which over-copies into the slack (fixed 32- and
/// 16-byte blocks). It reads [`FAST_IN`] input bytes at an instruction, so the last ones of
/// `src` are decoded from a zero-padded copy, the real end of the input still bounding every
/// instruction: a small compressed listpack's last ~33 input bytes (a quarter of a typical
/// one) no longer fall to the checking decoder and its variable-length copies. What
/// `fast_op` does not take (an overlapping back-reference of distance 2 to 15 longer than 16
/// bytes, any error) goes through [`one_op`], the checking decoder (`next_op`), which gives
/// every error its offset and message.
fn decompress_slice(src: &[u8], dst: &mut [u8], total: usize) -> Result<(), BlobError> {
    assert!(dst.len() >= total + SLACK, "no slack past the output");
    let n = src.len();
    let mut ip = 0;
    let mut op = 0;
    while ip + FAST_IN <= n {
        match fast_op(src, ip, n, dst, op, total) {
            Some((i, o)) => (ip, op) = (i, o),
            None => (ip, op) = one_op(src, ip, dst, op, total)?,
        }
    }
    while ip < n {
        // Fewer than FAST_IN bytes left: decode them from a padded copy (indices relative to
        // `ip`, the real end `n - ip`), the first one `fast_op` refuses through `one_op`.
        let left = n - ip;
        let mut pad = [0u8; 2 * FAST_IN];
        pad[..left].copy_from_slice(&src[ip..]);
        let mut j = 0;
        while j < left {
            match fast_op(&pad, j, left, dst, op, total) {
                Some((i, o)) => (j, op) = (i, o),
                None => break,
            }
        }
        ip += j;
        if ip < n {
            (ip, op) = one_op(src, ip, dst, op, total)?;
        }
    }
    if op != total {
        return Err(short_output(n, op, total));
    }
    Ok(())
}

/// Decodes the instruction at `s[ip]` into `dst[op..]` when `next_op` would accept it
/// (inside the input's first `n` bytes, inside `total`, a distance inside the output) and a
/// block copy is correct: a literal run as one 32-byte block, a back-reference of up to 16
/// bytes that does not overlap its output as one 16-byte block (loaded, then stored), a
/// longer one in 16-byte blocks when its distance is 16 or more, a run of one byte
/// (distance 1) in 16-byte blocks of it, a short overlapping one (distance 2 to 15, up to 16
/// bytes) byte by byte. Returns the next positions,
/// or `None` to leave the instruction to [`one_op`]. `s` has [`FAST_IN`] bytes from `ip`
/// (past `n` only in the padded tail). Bytes past the instruction's length land in the slack
/// and are overwritten by later instructions (output is produced strictly left to right).
#[inline(always)]
fn fast_op(
    s: &[u8],
    ip: usize,
    n: usize,
    dst: &mut [u8],
    op: usize,
    total: usize,
) -> Option<(usize, usize)> {
    let w: &[u8; FAST_IN] = s.get(ip..ip + FAST_IN)?.try_into().ok()?;
    let c = usize::from(w[0]);
    if c < 32 {
        let len = c + 1;
        let next = ip + len + 1;
        if next > n || len > total - op {
            return None;
        }
        // Both buffers have 32 bytes from here (op <= total, SLACK = 32).
        dst[op..op + 32].copy_from_slice(&w[1..]);
        return Some((next, op + len));
    }
    let (len, low, next) = if c >> 5 == 7 {
        (9 + usize::from(w[1]), usize::from(w[2]), ip + 3)
    } else {
        ((c >> 5) + 2, usize::from(w[1]), ip + 2)
    };
    let dist = ((c & 0x1f) << 8) + low + 1;
    if next > n || dist > op || len > total - op {
        return None;
    }
    let from = op - dist;
    if len <= 16 && dist >= len {
        // One block: its source bytes that matter lie before `op`.
        let block: [u8; 16] = dst[from..from + 16].try_into().expect("16 bytes");
        dst[op..op + 16].copy_from_slice(&block);
        return Some((next, op + len));
    }
    if dist >= 16 {
        // Blocks of 16 never read bytes they are about to write (dist >= 16), which also
        // makes this correct for overlapping references.
        let mut k = 0;
        while k < len {
            dst.copy_within(from + k..from + k + 16, op + k);
            k += 16;
        }
        return Some((next, op + len));
    }
    if dist == 1 {
        // A run of one byte (a stream node's padding, a repeated character): 16-byte blocks
        // of it, the last one into the slack (len <= total - op, SLACK = 32).
        let block = [dst[from]; 16];
        let mut k = 0;
        while k < len {
            dst[op + k..op + k + 16].copy_from_slice(&block);
            k += 16;
        }
        return Some((next, op + len));
    }
    if len <= 16 {
        // A short overlapping reference (distance 2 to 15, e.g. a stream node's repeated
        // digits): byte by byte, as the reference decoder copies, each byte from one already
        // written.
        for k in 0..len {
            dst[op + k] = dst[from + k];
        }
        return Some((next, op + len));
    }
    None
}

/// Decodes one instruction at `src[ip]` into `dst[op..]` by the checking decoder
/// (`next_op`): an overlapping back-reference of distance under 16, or any error, with its
/// offset and message. Returns the next positions.
#[inline(never)]
fn one_op(
    src: &[u8],
    ip: usize,
    dst: &mut [u8],
    op: usize,
    total: usize,
) -> Result<(usize, usize), BlobError> {
    let room = total - op;
    let (inst, next) = next_op(src, ip, op, room)?;
    match inst {
        Op::Literal { start, len } => {
            dst[op..op + len].copy_from_slice(&src[start..start + len]);
            Ok((next, op + len))
        }
        Op::BackRef { dist, len } => {
            let from = op - dist;
            if dist >= len {
                dst.copy_within(from..from + len, op);
            } else if dist == 1 {
                let b = dst[from];
                dst[op..op + len].fill(b);
            } else {
                // Overlapping: the output repeats the last `dist` bytes. Copy in chunks
                // that double each time; each chunk's source lies wholly before its
                // destination, and `done` stays a multiple of `dist`.
                let mut done = 0;
                while done < len {
                    let chunk = (len - done).min(dist + done);
                    dst.copy_within(from..from + chunk, op + done);
                    done += chunk;
                }
            }
            Ok((next, op + len))
        }
    }
}

/// Per control byte: the bytes its instruction occupies (a literal run's data included) and
/// the output it produces (for a long back-reference, `ctrl >> 5 == 7`, without its length
/// byte, which [`LONG`] selects).
const STEP: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut c = 0;
    while c < 256 {
        t[c] = if c < 32 {
            c as u8 + 2
        } else if c >> 5 == 7 {
            3
        } else {
            2
        };
        c += 1;
    }
    t
};
/// See [`STEP`].
const OUT: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut c = 0;
    while c < 256 {
        t[c] = if c < 32 {
            c as u8 + 1
        } else {
            (c >> 5) as u8 + 2
        };
        c += 1;
    }
    t
};
/// 0xFF for a long back-reference's control byte (its next byte adds to the length), else 0.
const LONG: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut c = 0xE0;
    while c < 256 {
        t[c] = 0xFF;
        c += 1;
    }
    t
};

/// Walks the stream without producing output: every literal stays inside `src`, every
/// back-reference reaches only bytes already produced, and the total is exactly
/// `expected_len`.
///
/// A big string value's whole cost in a deep check, so branch-free table-driven loops (the
/// control byte gives the instruction's size and output, `STEP`, `OUT`, `LONG`) that
/// keep only what cannot be checked later: positions and output only grow, so "`ip` never
/// passed the end" and "output never passed `expected_len`" hold for every instruction when
/// they hold after the last. Phase 1, the first `MAX_OFF` bytes of output, ORs each
/// back-reference's "distance reaches before the start" into a flag; phase 2 needs not even
/// that (no distance exceeds `MAX_OFF`): two loads and three table lookups an instruction.
/// When a phase's end state fails, the checking walk (`next_op`) takes over from where the
/// phase began (an error-free prefix), finding the first error with its exact offset and
/// message; when both pass, it finishes the last byte or two. A stream of at most `MAX_OFF`
/// bytes of output takes phase 1 alone with one packed table (`validate_short`).
pub fn validate(src: &[u8], expected_len: usize) -> Result<(), BlobError> {
    check_ratio(src, expected_len)?;
    if expected_len <= MAX_OFF {
        return validate_short(src, expected_len);
    }
    let n = src.len();
    // Phase 1: the first MAX_OFF bytes of output, distances checked (OR-ed into `bad`).
    let mut ip = 0;
    let mut produced = 0;
    let mut bad = false;
    while produced < MAX_OFF {
        let Some(&[c, b1, b2]) = src.get(ip..ip + 3) else {
            break;
        };
        let c = usize::from(c);
        let long = LONG[c];
        let low = usize::from((b2 & long) | (b1 & !long));
        bad |= (c >= 32) & (((c & 0x1f) << 8) + low + 1 > produced);
        ip += usize::from(STEP[c]);
        produced += usize::from(OUT[c]) + usize::from(b1 & long);
    }
    if bad || ip > n || produced > expected_len {
        return validate_from(src, expected_len, 0, 0);
    }
    if produced < MAX_OFF {
        // Fewer than 3 bytes left before MAX_OFF bytes were produced.
        return validate_from(src, expected_len, ip, produced);
    }
    // Phase 2: no distance can reach before the start any more.
    let (ip0, produced0) = (ip, produced);
    let (ip, produced) = walk_lanes(src, ip, produced, LANE_MIN);
    if ip > n || produced > expected_len {
        return validate_from(src, expected_len, ip0, produced0);
    }
    validate_from(src, expected_len, ip, produced)
}

/// An instruction of [`validate_short`] from its control byte: the size (bits 0–7), the
/// output without a long back-reference's length byte (bits 8–15), that byte's mask
/// (bits 16–23, 0xFF for a long back-reference), and the distance's high part less one
/// as a signed number in bits 32–63 (a literal's is so negative that it never fails).
const SHORT: [u64; 256] = {
    let mut t = [0u64; 256];
    let mut c = 0;
    while c < 256 {
        let hi: i64 = if c < 32 {
            -(1 << 30)
        } else {
            ((c & 0x1f) << 8) as i64
        };
        t[c] = STEP[c] as u64 | (OUT[c] as u64) << 8 | (LONG[c] as u64) << 16 | (hi as u64) << 32;
        c += 1;
    }
    t
};

/// [`validate`] of a stream that produces at most `MAX_OFF` bytes (most string values of a
/// mixed file): phase 1's walk with one table lookup an instruction and the three bytes read
/// without bounds checks while three are left; the end state decides as in phase 1 (any
/// distance that reached before the start, a position past the end or output past the length
/// sends the checking walk over the whole stream for the exact error), the checking walk
/// finishes the last byte or two.
#[inline]
fn validate_short(src: &[u8], expected_len: usize) -> Result<(), BlobError> {
    let n = src.len();
    let mut ip = 0usize;
    let mut produced = 0usize;
    // Negative (sign bit set) while every back-reference stayed inside the output.
    let mut ok = -1i64;
    let limit = n.saturating_sub(2);
    while ip < limit {
        // SAFETY: `ip < limit = n - 2`.
        let (c, b1, b2) = unsafe {
            (
                *src.get_unchecked(ip),
                *src.get_unchecked(ip + 1),
                *src.get_unchecked(ip + 2),
            )
        };
        let t = SHORT[usize::from(c)];
        let long = (t >> 16) as u8;
        let low = (b2 & long) | (b1 & !long);
        // Non-negative (clears the sign bit) when distance - 1 = hi + low >= produced.
        ok &= (t as i64 >> 32) + i64::from(low) - produced as i64;
        ip += (t & 0xff) as usize;
        produced += ((t >> 8) & 0xff) as usize + usize::from(b1 & long);
    }
    if ok >= 0 || ip > n || produced > expected_len {
        return validate_from(src, expected_len, 0, 0);
    }
    validate_from(src, expected_len, ip, produced)
}

/// Walks per lane in [`walk_lanes`]: independent walks interleaved in one loop.
const LANES: usize = 4;
/// Instructions a lane records from its start for the lane before it to meet.
const SYNC_STEPS: usize = 64;
/// The longest instruction: a literal run of 32 bytes and its control byte.
const MAX_STEP: usize = MAX_LIT + 1;
/// Compressed bytes a lane needs at least (shorter streams take one walk).
const LANE_MIN: usize = 16 << 10;

/// One instruction of phase 2: its size and output from the control byte (a long
/// back-reference adds its next byte). The caller guarantees `ip + 1 < src.len()`.
#[inline(always)]
fn step(src: &[u8], ip: &mut usize, produced: &mut usize) {
    debug_assert!(*ip + 1 < src.len());
    // SAFETY: every caller steps only while `ip < limit` with `limit < src.len()`.
    let (c, b1) = unsafe { (*src.get_unchecked(*ip), *src.get_unchecked(*ip + 1)) };
    let c = usize::from(c);
    *ip += usize::from(STEP[c]);
    *produced += usize::from(OUT[c]) + usize::from(b1 & LONG[c]);
}

/// Phase 2's walk from `ip` while an instruction's first two bytes lie before `limit`
/// (`limit < src.len()`): the end state.
#[inline]
fn walk(src: &[u8], mut ip: usize, mut produced: usize, limit: usize) -> (usize, usize) {
    while ip < limit {
        step(src, &mut ip, &mut produced);
    }
    (ip, produced)
}

/// Phase 2 of [`validate`]: the end state `(ip, produced)` of the walk from `(ip0, produced0)`
/// while two bytes are left, exactly as one walk would reach it.
///
/// One walk is a chain of dependent loads (the control byte gives where the next one is:
/// ~8 cycles an instruction, whatever the core's width). So the stream is cut into
/// [`LANES`] segments walked at the same time in one loop, each from a guessed start (a
/// segment's first byte, which may lie inside an instruction). A lane records the positions
/// of its first [`SYNC_STEPS`] instructions; the walk before it, the true one, goes on past
/// the segment's start until it lands on one of them: from a common position the two walks
/// are the same walk, so the lane's end state, shifted by what the true walk had produced
/// there, is the true one. Walks from a wrong start fall into step with the true one within
/// a few instructions (back-references are 2–3 bytes, literal runs short, the same
/// self-synchronisation as variable-length machine code); when they do not meet within the
/// recorded positions, the true walk simply goes on alone from there.
pub(crate) fn walk_lanes(
    src: &[u8],
    ip0: usize,
    produced0: usize,
    lane_min: usize,
) -> (usize, usize) {
    // A step reads two bytes: it needs ip + 1 < len.
    let end = src.len().saturating_sub(1);
    let span = end.saturating_sub(ip0);
    if span < LANES * lane_min.max(1) {
        return walk(src, ip0, produced0, end);
    }
    let mut ip = [0usize; LANES];
    let mut limit = [end; LANES];
    for k in 0..LANES {
        ip[k] = ip0 + span / LANES * k;
        if k > 0 {
            limit[k - 1] = ip[k];
        }
    }
    let mut produced = [0usize; LANES];
    produced[0] = produced0;
    // Lanes 1.. record (position, output so far) of their first instructions.
    let mut rec = [[(0usize, 0usize); SYNC_STEPS]; LANES];
    let mut nrec = [0usize; LANES];
    for k in 1..LANES {
        while nrec[k] < SYNC_STEPS && ip[k] < limit[k] {
            rec[k][nrec[k]] = (ip[k], produced[k]);
            nrec[k] += 1;
            step(src, &mut ip[k], &mut produced[k]);
        }
    }
    // All lanes at once while each is inside its segment: in rounds none can leave it in
    // (an instruction is at most `MAX_STEP` bytes), so the loop tests one counter.
    loop {
        let rounds = (0..LANES)
            .map(|k| limit[k].saturating_sub(ip[k]) / MAX_STEP)
            .min()
            .unwrap_or(0);
        if rounds == 0 {
            break;
        }
        for _ in 0..rounds {
            for k in 0..LANES {
                step(src, &mut ip[k], &mut produced[k]);
            }
        }
    }
    while (0..LANES).all(|k| ip[k] < limit[k]) {
        for k in 0..LANES {
            step(src, &mut ip[k], &mut produced[k]);
        }
    }
    // Stitch: the true walk finishes each segment and meets the next lane.
    let (mut at, mut out) = walk(src, ip[0], produced[0], limit[0]);
    for k in 1..LANES {
        if k > 1 {
            (at, out) = walk(src, at, out, limit[k - 1]);
        }
        let mut j = 0;
        let met = loop {
            if j == nrec[k] || at >= end {
                break None;
            }
            let (rip, rout) = rec[k][j];
            if at == rip {
                break Some(rout);
            }
            if at > rip {
                j += 1;
            } else {
                step(src, &mut at, &mut out);
            }
        };
        let Some(rout) = met else {
            return walk(src, at, out, end);
        };
        // The lane's output from `rip` on is the true walk's from there.
        out = produced[k].wrapping_sub(rout).wrapping_add(out);
        at = ip[k];
    }
    walk(src, at, out, end)
}

/// The end state of phase 2's walk over all of `src` (from 0, nothing produced) through
/// [`walk_lanes`] with lanes of at least `lane_min` bytes (`usize::MAX`: one walk); for the
/// fuzz checks, which compare the two.
#[doc(hidden)]
pub fn lane_walk_end(src: &[u8], lane_min: usize) -> (usize, usize) {
    walk_lanes(src, 0, 0, lane_min)
}

/// The checking walk from an instruction boundary `ip` with `produced` bytes so far to the
/// end (see [`validate`]).
fn validate_from(
    src: &[u8],
    expected_len: usize,
    mut ip: usize,
    mut produced: usize,
) -> Result<(), BlobError> {
    while ip < src.len() {
        let (inst, next) = next_op(src, ip, produced, expected_len - produced)?;
        produced += match inst {
            Op::Literal { len, .. } | Op::BackRef { len, .. } => len,
        };
        ip = next;
    }
    if produced != expected_len {
        return Err(short_output(src.len(), produced, expected_len));
    }
    Ok(())
}

/// [`validate`] fed piece by piece: the compressed data of a string too big to hold (a
/// streamed value) is checked as it passes, in constant memory. Feeding the pieces of `src` in
/// order and then calling [`finish`](Self::finish) gives the verdict of `validate(src, len)`
/// (error offsets are from the start of the compressed data).
#[derive(Debug)]
pub struct StreamValidator {
    expected: usize,
    produced: usize,
    /// Compressed bytes fed so far.
    fed: usize,
    /// Bytes of a literal run still to pass.
    literal_left: usize,
    /// A back-reference's bytes received so far (up to 3), and where it started.
    pending: [u8; 3],
    npending: usize,
    pending_at: usize,
}

impl StreamValidator {
    /// For `compressed_len` bytes that must produce exactly `expected_len`.
    pub fn new(compressed_len: usize, expected_len: usize) -> Result<Self, BlobError> {
        if expected_len > compressed_len.saturating_mul(MAX_RATIO) {
            return Err(err(
                0,
                format!(
                    "expected length {expected_len} is more than {compressed_len} compressed bytes can produce"
                ),
            ));
        }
        Ok(StreamValidator {
            expected: expected_len,
            produced: 0,
            fed: 0,
            literal_left: 0,
            pending: [0; 3],
            npending: 0,
            pending_at: 0,
        })
    }

    /// The next piece of compressed data.
    pub fn feed(&mut self, mut chunk: &[u8]) -> Result<(), BlobError> {
        while !chunk.is_empty() {
            if self.literal_left > 0 {
                let n = self.literal_left.min(chunk.len());
                self.literal_left -= n;
                self.fed += n;
                chunk = &chunk[n..];
                continue;
            }
            let b = chunk[0];
            chunk = &chunk[1..];
            let ip = self.fed;
            self.fed += 1;
            let room = self.expected - self.produced;
            if self.npending == 0 {
                let ctrl = usize::from(b);
                if ctrl < 32 {
                    let len = ctrl + 1;
                    if len > room {
                        return Err(err(
                            ip,
                            format!("literal run of {len} bytes overflows the expected length ({room} bytes left to produce)"),
                        ));
                    }
                    self.produced += len;
                    self.literal_left = len;
                    continue;
                }
                self.pending_at = ip;
            }
            self.pending[self.npending] = b;
            self.npending += 1;
            let ctrl = usize::from(self.pending[0]);
            let need = if ctrl >> 5 == 7 { 3 } else { 2 };
            if self.npending < need {
                continue;
            }
            let (len, low) = if need == 3 {
                (
                    7 + usize::from(self.pending[1]),
                    usize::from(self.pending[2]),
                )
            } else {
                (ctrl >> 5, usize::from(self.pending[1]))
            };
            self.npending = 0;
            let (len, dist, at) = (len + 2, ((ctrl & 0x1f) << 8) + low + 1, self.pending_at);
            if dist > self.produced {
                return Err(err(
                    at,
                    format!("back-reference distance {dist} reaches before the start of the output ({} bytes produced)", self.produced),
                ));
            }
            if len > room {
                return Err(err(
                    at,
                    format!("back-reference of {len} bytes overflows the expected length ({room} bytes left to produce)"),
                ));
            }
            self.produced += len;
        }
        Ok(())
    }

    /// After the last piece: the data must end on an instruction boundary having produced
    /// exactly the expected length.
    pub fn finish(&self) -> Result<(), BlobError> {
        if self.literal_left > 0 {
            let len = self.literal_left;
            return Err(err(
                self.fed,
                format!(
                    "literal run runs past the end of the compressed data ({len} bytes missing)"
                ),
            ));
        }
        if self.npending > 0 {
            return Err(err(
                self.pending_at,
                "back-reference is missing its length or distance byte",
            ));
        }
        if self.produced != self.expected {
            return Err(short_output(self.fed, self.produced, self.expected));
        }
        Ok(())
    }
}

/// Compresses `src` with a liblzf-style greedy matcher (a hash table of the last position of
/// every 3-byte prefix). The output decodes with Redis's `lzf_decompress`. Returns `None` when
/// the result would not be shorter than the input (Redis then stores the string raw).
pub fn compress(src: &[u8]) -> Option<Vec<u8>> {
    const HLOG: u32 = 14;
    if src.len() < 4 {
        return None;
    }
    let limit = src.len() - 1; // output must stay strictly shorter than the input
    let mut out: Vec<u8> = Vec::with_capacity(limit);
    // table[h] = 1 + position of the last 3-byte sequence with hash h (0 = none).
    let mut table = vec![0usize; 1 << HLOG];
    let hash = |p: usize| -> usize {
        let v = (u32::from(src[p]) << 16) | (u32::from(src[p + 1]) << 8) | u32::from(src[p + 2]);
        (v.wrapping_mul(2_654_435_761) >> (32 - HLOG)) as usize
    };
    let mut lit_start = 0;
    let mut ip = 0;
    while ip + 2 < src.len() {
        let h = hash(ip);
        let cand = table[h];
        table[h] = ip + 1;
        if cand != 0 {
            let r = cand - 1;
            let dist = ip - r;
            if dist <= MAX_OFF && src[r..r + 3] == src[ip..ip + 3] {
                let max = (src.len() - ip).min(MAX_REF);
                let mut len = 3;
                while len < max && src[r + len] == src[ip + len] {
                    len += 1;
                }
                emit_literals(&mut out, &src[lit_start..ip]);
                let off = dist - 1;
                let l2 = len - 2;
                if l2 < 7 {
                    out.push(((l2 << 5) | (off >> 8)) as u8);
                } else {
                    out.push(((7 << 5) | (off >> 8)) as u8);
                    out.push((l2 - 7) as u8);
                }
                out.push((off & 0xff) as u8);
                // Remember the positions inside the match too (better ratio on repeats).
                let end = ip + len;
                let mut p = ip + 1;
                while p < end && p + 2 < src.len() {
                    table[hash(p)] = p + 1;
                    p += 1;
                }
                ip = end;
                lit_start = ip;
                if out.len() >= limit {
                    return None;
                }
                continue;
            }
        }
        ip += 1;
    }
    emit_literals(&mut out, &src[lit_start..]);
    if out.len() >= src.len() {
        return None;
    }
    Some(out)
}

fn emit_literals(out: &mut Vec<u8>, mut lit: &[u8]) {
    while !lit.is_empty() {
        let n = lit.len().min(MAX_LIT);
        out.push((n - 1) as u8);
        out.extend_from_slice(&lit[..n]);
        lit = &lit[n..];
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn decompress(src: &[u8], n: usize) -> Result<Vec<u8>, BlobError> {
        let mut v = Vec::new();
        decompress_into(src, n, &mut v).map(|()| v)
    }

    #[test]
    fn literal_and_overlapping_backref() {
        // "abc" then copy 6 from distance 3 -> "abcabcabc"
        let src = [2, b'a', b'b', b'c', (4 << 5), 2];
        assert_eq!(decompress(&src, 9).unwrap(), b"abcabcabc");
        validate(&src, 9).unwrap();
        // run of one byte: distance 1
        let src = [0, b'x', (7 << 5), 3, 0];
        assert_eq!(decompress(&src, 13).unwrap(), vec![b'x'; 13]);
    }

    #[test]
    fn reusing_overwrites_garbage_and_clears_on_error() {
        let data: Vec<u8> = (0..300u32).map(|i| (i % 7) as u8 + b'a').collect();
        let c = compress(&data).expect("compresses");
        for garbage in [0usize, 5, 299, 300, 400] {
            let mut buf = vec![0xA5; garbage];
            decompress_reusing(&c, data.len(), &mut buf).unwrap();
            assert_eq!(buf, data);
            // an error of the walk, and one refused before it: the buffer is emptied
            assert!(decompress_reusing(&c, data.len() + 1, &mut buf).is_err());
            assert!(buf.is_empty());
            buf.resize(garbage, 0xA5);
            assert!(decompress_reusing(&[], 2570, &mut buf).is_err());
            assert!(buf.is_empty());
        }
    }

    #[test]
    fn appends_after_existing_bytes() {
        let mut v = b"keep".to_vec();
        decompress_into(&[1, b'h', b'i'], 2, &mut v).unwrap();
        assert_eq!(v, b"keephi");
        // error leaves the prefix untouched
        assert!(decompress_into(&[1, b'h', b'i'], 3, &mut v).is_err());
        assert_eq!(v, b"keephi");
    }

    #[test]
    fn malformed_streams() {
        let cases: &[(&[u8], usize, &str)] = &[
            (&[5, b'a'], 6, "literal run of 6 bytes runs past the end"),
            (&[2, b'a', b'b', b'c'], 2, "overflows the expected length"),
            (
                &[0, b'a', (1 << 5), 1],
                4,
                "back-reference distance 2 reaches before the start",
            ),
            (&[0, b'a', (1 << 5)], 4, "missing its distance byte"),
            (&[0, b'a', (7 << 5)], 40, "missing its length byte"),
            (
                &[0, b'a', (1 << 5), 0],
                3,
                "back-reference of 3 bytes overflows",
            ),
            (
                &[1, b'a', b'b'],
                5,
                "ends after producing 2 bytes, expected 5",
            ),
            (
                &[],
                1,
                "expected length 1 is more than 0 compressed bytes can produce",
            ),
        ];
        for &(src, n, msg) in cases {
            let e = decompress(src, n).unwrap_err();
            assert!(e.what.contains(msg), "{src:?}: {e}");
            let e2 = validate(src, n).unwrap_err();
            assert_eq!(e, e2);
        }
        // a back-reference at offset 2 is reported there
        assert_eq!(
            decompress(&[0, b'a', (1 << 5), 1], 4).unwrap_err().offset,
            2
        );
        assert_eq!(decompress(&[], 0).unwrap(), b"");
        // an impossible expected length is refused before allocating
        let e = decompress(&[0, b'a'], 1 << 40).unwrap_err();
        assert!(
            e.what.contains("more than 2 compressed bytes can produce"),
            "{e}"
        );
        // the densest possible stream (one literal, then 264-byte runs) is accepted
        let mut dense = vec![0, b'z'];
        for _ in 0..100 {
            dense.extend_from_slice(&[7 << 5, 255, 0]);
        }
        assert_eq!(decompress(&dense, 1 + 26400).unwrap(), vec![b'z'; 26401]);
    }

    #[test]
    fn compress_small_and_incompressible() {
        assert_eq!(compress(b""), None);
        assert_eq!(compress(b"abc"), None);
        let random: Vec<u8> = (0..1000u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        if let Some(c) = compress(&random) {
            assert!(c.len() < random.len());
            assert_eq!(decompress(&c, random.len()).unwrap(), random);
        }
        let text = b"echo-pvfb|".repeat(200);
        let c = compress(&text).unwrap();
        assert!(c.len() < text.len() / 10, "{}", c.len());
        assert_eq!(decompress(&c, text.len()).unwrap(), text);
        // long-distance and max-length matches
        let mut big = random.repeat(12);
        big.extend(vec![7u8; 5000]);
        let c = compress(&big).unwrap();
        assert_eq!(decompress(&c, big.len()).unwrap(), big);
        assert_eq!(lzf::decompress(&c, big.len()).unwrap(), big);
    }

    fn data() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..3000),
            proptest::collection::vec(0u8..4, 0..5000),
            (proptest::collection::vec(any::<u8>(), 1..40), 1usize..200)
                .prop_map(|(chunk, n)| chunk.repeat(n)),
        ]
    }

    proptest! {
        #[test]
        fn roundtrip_and_cross_check(input in data()) {
            if let Some(c) = compress(&input) {
                prop_assert!(c.len() < input.len());
                prop_assert_eq!(&decompress(&c, input.len()).unwrap(), &input);
                validate(&c, input.len()).unwrap();
                // The reference crate decodes our output ...
                prop_assert_eq!(&lzf::decompress(&c, input.len()).unwrap(), &input);
                // ... and shorter/longer expectations are refused.
                prop_assert!(decompress(&c, input.len() + 1).is_err());
                if !input.is_empty() {
                    prop_assert!(decompress(&c, input.len() - 1).is_err());
                }
            }
            // We decode the reference crate's output.
            if let Ok(c) = lzf::compress(&input) {
                prop_assert_eq!(&decompress(&c, input.len()).unwrap(), &input);
                validate(&c, input.len()).unwrap();
            }
        }

        #[test]
        fn garbage_never_panics(src in proptest::collection::vec(any::<u8>(), 0..200), n in 0usize..1000) {
            let a = decompress(&src, n);
            let b = validate(&src, n);
            prop_assert_eq!(a.is_ok(), b.is_ok());
            if let (Err(a), Err(b)) = (&a, &b) {
                prop_assert_eq!(a, b);
            }
            // Agree with the reference decoder on what is valid.
            let reference = lzf::decompress(&src, n.max(1));
            if let Ok(v) = &a {
                if n > 0 {
                    prop_assert_eq!(reference.as_ref().ok(), Some(v));
                }
            }
        }
    }

    /// 9-40 KiB of text-like data (runs of repeats and of noise): past the [`MAX_OFF`] bytes
    /// that `validate` walks with every check.
    fn big_data() -> impl Strategy<Value = Vec<u8>> {
        (any::<u64>(), 9000usize..40_000).prop_map(|(seed, n)| {
            let mut state = seed | 1;
            let mut rnd = move || {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state
            };
            let mut v = Vec::with_capacity(n);
            while v.len() < n {
                let r = rnd();
                if r % 3 == 0 && v.len() > 300 {
                    let back = 1 + (r >> 8) as usize % v.len().min(9000);
                    let len = 3 + (r >> 24) as usize % 300;
                    for _ in 0..len {
                        v.push(v[v.len() - back]);
                    }
                } else {
                    for _ in 0..(r >> 40) % 50 {
                        v.push(b'a' + (rnd() % 26) as u8);
                    }
                }
            }
            v.truncate(n);
            v
        })
    }

    proptest! {
        /// The two-phase walk of `validate` and the checking walk agree on every
        /// damaged copy of a valid stream (one byte changed, or cut, or a length off by a few),
        /// error offset and message included, and with the decompressor.
        #[test]
        fn fast_validate_agrees_with_checking_walk(
            input in prop_oneof![data(), big_data()],
            idx in any::<usize>(),
            byte in any::<u8>(),
            cut in any::<usize>(),
            delta in -3isize..4,
        ) {
            if let Some(mut c) = compress(&input) {
                let n = input.len().saturating_add_signed(delta);
                let i = idx % c.len();
                c[i] = byte;
                let c = &c[..c.len() - cut % 4.min(c.len())];
                let fast = validate(c, n);
                prop_assert_eq!(&fast, &check_ratio(c, n).and_then(|()| validate_from(c, n, 0, 0)));
                prop_assert_eq!(&fast, &decompress(c, n).map(|_| ()));
            }
        }
    }

    proptest! {
        /// `validate_short` (streams producing at most `MAX_OFF` bytes) gives the checking
        /// walk's verdict, error offset and message included, on noise and on valid streams
        /// with several bytes changed (back-references reaching before the start, runs past
        /// the end, output past the length).
        #[test]
        fn short_validate_agrees_with_checking_walk(
            input in data(),
            noise in proptest::collection::vec(any::<u8>(), 0..400),
            edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 0..4),
            n in 0usize..MAX_OFF + 1,
            delta in -3isize..4,
        ) {
            let check = |c: &[u8], n: usize| {
                check_ratio(c, n).and_then(|()| validate_from(c, n, 0, 0))
            };
            prop_assert_eq!(validate(&noise, n), check(&noise, n));
            if let Some(mut c) = compress(&input) {
                for &(i, b) in &edits {
                    let i = i % c.len();
                    c[i] = b;
                }
                let n = input.len().saturating_add_signed(delta).min(MAX_OFF);
                prop_assert_eq!(validate(&c, n), check(&c, n));
            }
        }
    }

    proptest! {
        /// The interleaved lanes of phase 2 reach the one walk's end state on any bytes
        /// (valid streams, damaged ones, noise), whatever the lanes' size.
        #[test]
        fn lanes_reach_the_walks_end_state(
            input in prop_oneof![data(), big_data()],
            noise in proptest::collection::vec(any::<u8>(), 0..3000),
            lane_min in 1usize..300,
            from in any::<usize>(),
        ) {
            let c = compress(&input).unwrap_or_default();
            for src in [&c[..], &noise[..]] {
                let end = src.len().saturating_sub(1);
                let from = from % (src.len() + 1);
                prop_assert_eq!(
                    walk_lanes(src, from, 7, lane_min),
                    walk(src, from, 7, end)
                );
            }
        }
    }

    #[test]
    fn lanes_that_never_meet_fall_back_to_one_walk() {
        // Every instruction 2 bytes: a lane started at an odd byte never meets the walk from
        // an even one; the true walk goes on alone.
        let src = vec![0x20u8; 10_001];
        assert_eq!(walk_lanes(&src, 0, 0, 100), walk(&src, 0, 0, 10_000));
        assert_eq!(walk_lanes(&src, 0, 0, 100), (10_000, 3 * 5_000));
        // A lane that starts inside a long literal run meets the walk at the run's end.
        let mut src = Vec::new();
        while src.len() < 50_000 {
            src.push(31);
            src.extend_from_slice(&[0x41; 32]);
            src.extend_from_slice(&[0x20, 0x00, 0xE0, 0x05, 0x00]);
        }
        let end = src.len() - 1;
        for lane_min in [1, 7, 100, 1000, 12_000] {
            assert_eq!(walk_lanes(&src, 0, 0, lane_min), walk(&src, 0, 0, end));
        }
        // A real stream of big.rdb's kind validates through the lanes.
        let text: Vec<u8> = (0..60_000u32)
            .flat_map(|i| {
                format!("{{\"ts\":{},\"user\":\"u{:07}\"}}\n", i * 37, i % 9973).into_bytes()
            })
            .collect();
        let c = compress(&text).unwrap();
        assert!(c.len() > LANES * LANE_MIN, "{}", c.len());
        validate(&c, text.len()).unwrap();
        assert!(validate(&c, text.len() + 1).is_err());
        assert!(validate(&c[..c.len() - 1], text.len()).is_err());
        // Damaged copies: the lanes' verdict is the checking walk's, error and offset.
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..300 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let mut d = c.clone();
            let i = (state as usize) % d.len();
            d[i] = (state >> 32) as u8;
            let n = text.len() + (state >> 40) as usize % 3 - 1;
            assert_eq!(validate(&d, n), validate_from(&d, n, 0, 0), "byte {i}");
        }
    }

    #[test]
    fn stream_validator_agrees_with_validate() {
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut rnd = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let mut refused = 0;
        for round in 0..3000 {
            let plain: Vec<u8> = (0..(rnd() % 3000) as usize)
                .map(|i| {
                    if rnd() % 4 == 0 {
                        rnd() as u8
                    } else {
                        (i % 7) as u8
                    }
                })
                .collect();
            let Some(mut comp) = compress(&plain) else {
                continue;
            };
            let mut len = plain.len();
            if round % 2 == 1 {
                // Damage: a flipped byte, a cut, or a wrong length.
                match rnd() % 3 {
                    0 => {
                        let i = (rnd() as usize) % comp.len();
                        comp[i] ^= 1 << (rnd() % 8);
                    }
                    1 => comp.truncate((rnd() as usize) % comp.len()),
                    _ => len = len + 1 - 2 * (rnd() % 2) as usize,
                }
            }
            let want = validate(&comp, len).map_err(|e| e.to_string());
            refused += usize::from(want.is_err());
            let step = 1 + (rnd() as usize) % 40;
            let got = StreamValidator::new(comp.len(), len)
                .and_then(|mut v| {
                    for piece in comp.chunks(step) {
                        v.feed(piece)?;
                    }
                    v.finish()
                })
                .map_err(|e| e.to_string());
            // The same verdict; the message may differ where validate sees the end first.
            assert_eq!(
                got.is_ok(),
                want.is_ok(),
                "round {round}: {got:?} vs {want:?}"
            );
        }
        assert!(refused > 1000, "{refused}");
    }
}
