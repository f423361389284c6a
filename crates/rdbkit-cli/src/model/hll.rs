//! HyperLogLog commands, producing the exact string bytes Redis writes: the 16-byte `HYLL`
//! header (encoding, cached cardinality), then the sparse opcodes (ZERO/XZERO/VAL, updated in
//! place the way `hllSparseSet` does, promoted to dense past `hll-sparse-max-bytes` = 3000,
//! the default, or a register value above 32) or the 16384 dense 6-bit registers. The
//! algorithm follows Redis's `src/hyperloglog.c` (MurmurHash64A with seed 0xadc83b19, P = 14).

use super::replay::{fail, Cmd, Flow, Replayer, R};
use super::MValue;

const P: u32 = 14;
const Q: u32 = 64 - P;
const REGISTERS: usize = 1 << P;
const HDR: usize = 16;
const DENSE_SIZE: usize = HDR + (REGISTERS * 6).div_ceil(8);
const DENSE: u8 = 0;
const SPARSE: u8 = 1;
const VAL_MAX_VALUE: u8 = 32;
const VAL_MAX_LEN: usize = 4;
const ZERO_MAX_LEN: usize = 64;
const XZERO_MAX_LEN: usize = 16384;
/// `hll-sparse-max-bytes`' default (a server configured otherwise promotes at another size).
const SPARSE_MAX_BYTES: usize = 3000;
const ALPHA_INF: f64 = 0.721_347_520_444_481_7;

/// MurmurHash2, 64-bit, endian-neutral (Redis's variant).
fn murmur64a(key: &[u8], seed: u64) -> u64 {
    const M: u64 = 0xc6a4_a793_5bd1_e995;
    const R: u32 = 47;
    let mut h = seed ^ (key.len() as u64).wrapping_mul(M);
    let mut chunks = key.chunks_exact(8);
    for c in &mut chunks {
        let mut k = u64::from_le_bytes(c.try_into().unwrap_or_default());
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h ^= k;
        h = h.wrapping_mul(M);
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        for (i, b) in rest.iter().enumerate() {
            h ^= (*b as u64) << (8 * i);
        }
        h = h.wrapping_mul(M);
    }
    h ^= h >> R;
    h = h.wrapping_mul(M);
    h ^= h >> R;
    h
}

/// (register index, run length of the 0..01 pattern) of an element.
fn pat_len(ele: &[u8]) -> (usize, u8) {
    let mut hash = murmur64a(ele, 0xadc8_3b19);
    let index = (hash as usize) & (REGISTERS - 1);
    hash >>= P;
    hash |= 1u64 << Q;
    let mut bit = 1u64;
    let mut count = 1u8;
    while hash & bit == 0 {
        count += 1;
        bit <<= 1;
    }
    (index, count)
}

fn dense_get(regs: &[u8], i: usize) -> u8 {
    let byte = i * 6 / 8;
    let fb = (i * 6) & 7;
    let b0 = regs[byte] as u32;
    let b1 = regs.get(byte + 1).copied().unwrap_or(0) as u32;
    (((b0 >> fb) | (b1 << (8 - fb))) & 63) as u8
}

fn dense_set(regs: &mut [u8], i: usize, v: u8) {
    let byte = i * 6 / 8;
    let fb = (i * 6) & 7;
    let v = v as u32;
    regs[byte] &= !((63u32 << fb) as u8);
    regs[byte] |= (v << fb) as u8;
    if let Some(b) = regs.get_mut(byte + 1) {
        *b &= !((63u32 >> (8 - fb)) as u8);
        *b |= (v >> (8 - fb)) as u8;
    }
}

/// A new, empty (sparse) HLL: header + XZERO opcodes covering every register.
fn create() -> Vec<u8> {
    let mut s = b"HYLL".to_vec();
    s.push(SPARSE);
    s.extend_from_slice(&[0u8; 11]);
    let mut aux = REGISTERS;
    while aux > 0 {
        let x = aux.min(XZERO_MAX_LEN);
        let l = x - 1;
        s.push((l >> 8) as u8 | 0x40);
        s.push((l & 0xff) as u8);
        aux -= x;
    }
    s
}

/// The registers of a valid HLL, or None when it is not one.
fn registers(s: &[u8]) -> Option<Vec<u8>> {
    if s.len() < HDR || &s[..4] != b"HYLL" {
        return None;
    }
    let mut r = vec![0u8; REGISTERS];
    match s[4] {
        DENSE if s.len() == DENSE_SIZE => {
            for (i, v) in r.iter_mut().enumerate() {
                *v = dense_get(&s[HDR..], i);
            }
        }
        SPARSE => {
            let mut i = 0usize;
            let mut p = HDR;
            while p < s.len() {
                let op = s[p];
                if op & 0xc0 == 0 {
                    i += (op & 0x3f) as usize + 1;
                    p += 1;
                } else if op & 0xc0 == 0x40 {
                    i += ((((op & 0x3f) as usize) << 8) | *s.get(p + 1)? as usize) + 1;
                    p += 2;
                } else {
                    let len = (op & 3) as usize + 1;
                    let val = ((op >> 2) & 0x1f) + 1;
                    if i + len > REGISTERS {
                        return None;
                    }
                    r[i..i + len].fill(val);
                    i += len;
                    p += 1;
                }
            }
            if i != REGISTERS {
                return None;
            }
        }
        _ => return None,
    }
    Some(r)
}

fn to_dense(s: &mut Vec<u8>) -> Result<(), Flow> {
    if s[4] == DENSE {
        return Ok(());
    }
    let r = registers(s).ok_or_else(|| Flow::Fail("corrupted HLL object".into()))?;
    let mut d = s[..HDR].to_vec();
    d[4] = DENSE;
    d.resize(DENSE_SIZE, 0);
    for (i, v) in r.iter().enumerate() {
        if *v != 0 {
            dense_set(&mut d[HDR..], i, *v);
        }
    }
    *s = d;
    Ok(())
}

fn invalidate(s: &mut [u8]) {
    s[15] |= 0x80;
}

fn val_op(v: u8, len: usize) -> u8 {
    (((v - 1) << 2) | (len as u8 - 1)) | 0x80
}

fn zero_ops(out: &mut Vec<u8>, len: usize) {
    if len > ZERO_MAX_LEN {
        let l = len - 1;
        out.push((l >> 8) as u8 | 0x40);
        out.push((l & 0xff) as u8);
    } else {
        out.push((len - 1) as u8);
    }
}

/// Sets register `index` to `count` when larger; true when something changed. Follows
/// `hllSparseSet`/`hllDenseSet` byte for byte (split, then merge adjacent VALs).
fn set(s: &mut Vec<u8>, index: usize, count: u8) -> Result<bool, Flow> {
    if s[4] == DENSE {
        if count > dense_get(&s[HDR..], index) {
            dense_set(&mut s[HDR..], index, count);
            return Ok(true);
        }
        return Ok(false);
    }
    let promote = |s: &mut Vec<u8>| -> Result<bool, Flow> {
        to_dense(s)?;
        dense_set(&mut s[HDR..], index, count);
        Ok(true)
    };
    if count > VAL_MAX_VALUE {
        return promote(s);
    }
    // Step 1: find the opcode covering `index`.
    let end = s.len();
    let (mut p, mut first, mut span) = (HDR, 0usize, 0usize);
    let mut prev: Option<usize> = None;
    while p < end {
        let op = s[p];
        let mut oplen = 1;
        span = if op & 0xc0 == 0 {
            (op & 0x3f) as usize + 1
        } else if op & 0x80 != 0 {
            (op & 3) as usize + 1
        } else {
            oplen = 2;
            ((((op & 0x3f) as usize) << 8) | *s.get(p + 1).unwrap_or(&0) as usize) + 1
        };
        if index < first + span {
            break;
        }
        prev = Some(p);
        p += oplen;
        first += span;
    }
    if span == 0 || p >= end {
        return fail("corrupted HLL object");
    }
    let op = s[p];
    let (is_zero, is_xzero, is_val) = (op & 0xc0 == 0, op & 0xc0 == 0x40, op & 0x80 != 0);
    let runlen = span;
    let mut updated_in_place = false;
    if is_val {
        let old = ((op >> 2) & 0x1f) + 1;
        if old >= count {
            return Ok(false);
        }
        if runlen == 1 {
            s[p] = val_op(count, 1);
            updated_in_place = true;
        }
    }
    if !updated_in_place && is_zero && runlen == 1 {
        s[p] = val_op(count, 1);
        updated_in_place = true;
    }
    let mut end = s.len();
    if !updated_in_place {
        let last = first + span - 1;
        let mut seq = Vec::with_capacity(5);
        if is_zero || is_xzero {
            if index != first {
                zero_ops(&mut seq, index - first);
            }
            seq.push(val_op(count, 1));
            if index != last {
                zero_ops(&mut seq, last - index);
            }
        } else {
            let cur = ((op >> 2) & 0x1f) + 1;
            if index != first {
                seq.push(val_op(cur, index - first));
            }
            seq.push(val_op(count, 1));
            if index != last {
                seq.push(val_op(cur, last - index));
            }
        }
        let oldlen = if is_xzero { 2 } else { 1 };
        if seq.len() > oldlen && s.len() + seq.len() - oldlen > SPARSE_MAX_BYTES {
            return promote(s);
        }
        s.splice(p..p + oldlen, seq);
        end = s.len();
    }
    // Step 4: merge adjacent VAL opcodes, scanning up to 5 opcodes from prev.
    let mut q = prev.unwrap_or(HDR);
    let mut scan = 5;
    while q < end && scan > 0 {
        scan -= 1;
        let op = s[q];
        if op & 0xc0 == 0x40 {
            q += 2;
            continue;
        } else if op & 0xc0 == 0 {
            q += 1;
            continue;
        }
        if q + 1 < end && s[q + 1] & 0x80 != 0 {
            let v1 = ((op >> 2) & 0x1f) + 1;
            let v2 = ((s[q + 1] >> 2) & 0x1f) + 1;
            if v1 == v2 {
                let len = (op & 3) as usize + 1 + (s[q + 1] & 3) as usize + 1;
                if len <= VAL_MAX_LEN {
                    s[q + 1] = val_op(v1, len);
                    s.remove(q);
                    end -= 1;
                    continue;
                }
            }
        }
        q += 1;
    }
    invalidate(s);
    Ok(true)
}

fn tau(mut x: f64) -> f64 {
    if x == 0.0 || x == 1.0 {
        return 0.0;
    }
    let mut y = 1.0;
    let mut z = 1.0 - x;
    loop {
        x = x.sqrt();
        let zp = z;
        y *= 0.5;
        let d = 1.0 - x;
        z -= d * d * y;
        if zp == z {
            break;
        }
    }
    z / 3.0
}

fn sigma(mut x: f64) -> f64 {
    if x == 1.0 {
        return f64::INFINITY;
    }
    let mut y = 1.0;
    let mut z = x;
    loop {
        x *= x;
        let zp = z;
        z += x * y;
        y += y;
        if zp == z {
            break;
        }
    }
    z
}

/// `hllCount`: the estimate from the register histogram.
fn count(regs: &[u8]) -> u64 {
    let m = REGISTERS as f64;
    let mut histo = [0u32; 64];
    for r in regs {
        histo[*r as usize] += 1;
    }
    let mut z = m * tau((m - histo[Q as usize + 1] as f64) / m);
    for j in (1..=Q as usize).rev() {
        z += histo[j] as f64;
        z *= 0.5;
    }
    z += m * sigma(histo[0] as f64 / m);
    (ALPHA_INF * m * m / z).round() as u64
}

fn hll_of<'r>(rp: &'r mut Replayer, key: &[u8]) -> Result<Option<&'r mut Vec<u8>>, Flow> {
    match rp.get_mut(key, "string")? {
        None => Ok(None),
        Some(k) => match &mut k.value {
            MValue::String(s) if registers(s).is_some() => Ok(Some(s)),
            _ => fail("WRONGTYPE Key is not a valid HyperLogLog string value"),
        },
    }
}

/// PFADD key element...
pub fn pfadd(rp: &mut Replayer, c: &Cmd) -> R {
    let key = c.arg(0)?;
    if hll_of(rp, key)?.is_none() {
        rp.put(key, MValue::String(create()));
    }
    let Some(s) = hll_of(rp, key)? else {
        return Ok(());
    };
    let mut updated = false;
    for e in &c.a[1..] {
        let (i, n) = pat_len(e);
        updated |= set(s, i, n)?;
    }
    if updated {
        invalidate(s);
    }
    Ok(())
}

/// PFMERGE dst src...
pub fn pfmerge(rp: &mut Replayer, c: &Cmd) -> R {
    let dst = c.arg(0)?;
    let mut max = vec![0u8; REGISTERS];
    let mut use_dense = false;
    for k in c.a {
        if let Some(s) = hll_of(rp, k)? {
            use_dense |= s[4] == DENSE;
            let r = registers(s).ok_or_else(|| Flow::Fail("corrupted HLL object".into()))?;
            for (m, v) in max.iter_mut().zip(r) {
                *m = (*m).max(v);
            }
        }
    }
    if hll_of(rp, dst)?.is_none() {
        rp.put(dst, MValue::String(create()));
    }
    let Some(s) = hll_of(rp, dst)? else {
        return Ok(());
    };
    if use_dense {
        to_dense(s)?;
    }
    for (j, v) in max.into_iter().enumerate() {
        if v != 0 {
            set(s, j, v)?;
        }
    }
    invalidate(s);
    Ok(())
}

/// PFCOUNT key: with one key whose cached cardinality is invalid, the server stores it (and
/// propagates the command); with several keys nothing is written.
pub fn pfcount(rp: &mut Replayer, c: &Cmd) -> R {
    if c.a.len() != 1 {
        return Ok(());
    }
    let Some(s) = hll_of(rp, c.arg(0)?)? else {
        return Ok(());
    };
    if s[15] & 0x80 == 0 {
        return Ok(());
    }
    let r = registers(s).ok_or_else(|| Flow::Fail("corrupted HLL object".into()))?;
    s[8..16].copy_from_slice(&count(&r).to_le_bytes());
    Ok(())
}

/// PFDEBUG TODENSE|GETREG key converts a sparse HLL to dense (and is propagated then).
pub fn pfdebug(rp: &mut Replayer, c: &Cmd) -> R {
    let sub = c.word(0);
    if sub != "TODENSE" && sub != "GETREG" {
        return Ok(());
    }
    if let Some(s) = hll_of(rp, c.arg(1)?)? {
        to_dense(s)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_hll_is_redis_layout() {
        let s = create();
        assert_eq!(s.len(), 16 + 2);
        assert_eq!(&s[..5], b"HYLL\x01");
        assert_eq!(&s[16..], &[0x7f, 0xff]);
        assert_eq!(count(&registers(&s).unwrap()), 0);
    }
}
