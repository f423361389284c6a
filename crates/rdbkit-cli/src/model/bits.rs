//! Bit commands on strings: SETBIT, BITOP, BITFIELD.

use super::replay::{fail, int, Cmd, Flow, Replayer, R};
use super::string::grow_string;
use super::MValue;

fn bit_offset(b: &[u8]) -> Result<u64, Flow> {
    u64::try_from(int(b, "bit offset")?)
        .ok()
        .filter(|o| *o < (512u64 << 23))
        .ok_or_else(|| Flow::Fail("bit offset is not an integer or out of range".into()))
}

/// SETBIT key offset 0|1
pub fn setbit(rp: &mut Replayer, c: &Cmd) -> R {
    let off = bit_offset(c.arg(1)?)?;
    let on = match c.arg(2)? {
        b"1" => true,
        b"0" => false,
        _ => return fail("bit is not an integer or out of range"),
    };
    let byte = (off >> 3) as usize;
    let v = grow_string(rp, c.arg(0)?, byte + 1, &format!("SETBIT at bit {off}"))?;
    let mask = 1u8 << (7 - (off & 7));
    if on {
        v[byte] |= mask;
    } else {
        v[byte] &= !mask;
    }
    Ok(())
}

/// BITOP AND|OR|XOR|NOT dst key...
pub fn bitop(rp: &mut Replayer, c: &Cmd) -> R {
    let op = c.word(0);
    let dst = c.arg(1)?;
    c.arg(2)?;
    let mut srcs: Vec<Vec<u8>> = Vec::new();
    for k in &c.a[2..] {
        match rp.db().get(*k).map(|v| &v.value) {
            None => srcs.push(Vec::new()),
            Some(MValue::String(s)) => srcs.push(s.clone()),
            Some(_) => return fail("WRONGTYPE a source key is not a string"),
        }
    }
    let len = srcs.iter().map(|s| s.len()).max().unwrap_or(0);
    rp.reserve(len as u64, dst)?;
    let at = |s: &Vec<u8>, i: usize| s.get(i).copied().unwrap_or(0);
    let out: Vec<u8> = match op.as_str() {
        "NOT" => {
            if srcs.len() != 1 {
                return fail("BITOP NOT must be called with a single source key");
            }
            srcs[0].iter().map(|b| !b).collect()
        }
        "AND" => (0..len)
            .map(|i| srcs.iter().fold(0xFF, |acc, s| acc & at(s, i)))
            .collect(),
        "OR" => (0..len)
            .map(|i| srcs.iter().fold(0, |acc, s| acc | at(s, i)))
            .collect(),
        "XOR" => (0..len)
            .map(|i| srcs.iter().fold(0, |acc, s| acc ^ at(s, i)))
            .collect(),
        o => {
            return Err(Flow::Unknown(format!(
                "BITOP {o} is an operation this replay does not know"
            )))
        }
    };
    rp.db().remove(dst);
    if !out.is_empty() {
        rp.put(dst, MValue::String(out));
    }
    Ok(())
}

fn get_bits(v: &[u8], off: u64, bits: u32) -> u64 {
    let mut r = 0u64;
    for j in 0..bits as u64 {
        let o = off + j;
        let byte = v.get((o >> 3) as usize).copied().unwrap_or(0);
        let bit = (byte >> (7 - (o & 7))) & 1;
        r = (r << 1) | bit as u64;
    }
    r
}

fn set_bits(v: &mut [u8], off: u64, bits: u32, val: u64) {
    for j in 0..bits as u64 {
        let bit = (val >> (bits as u64 - 1 - j)) & 1;
        let o = off + j;
        let byte = &mut v[(o >> 3) as usize];
        let mask = 1u8 << (7 - (o & 7));
        if bit == 1 {
            *byte |= mask;
        } else {
            *byte &= !mask;
        }
    }
}

/// BITFIELD key [GET t o] [SET t o v] [INCRBY t o n] [OVERFLOW WRAP|SAT|FAIL]...
pub fn bitfield(rp: &mut Replayer, c: &Cmd) -> R {
    let key = c.arg(0)?;
    let mut ops: Vec<(String, bool, u32, u64, i64, String)> = Vec::new();
    let mut overflow = "WRAP".to_string();
    let mut i = 1;
    while i < c.a.len() {
        let w = c.word(i);
        match w.as_str() {
            "OVERFLOW" => {
                overflow = c.word(i + 1);
                i += 2;
            }
            "GET" | "SET" | "INCRBY" => {
                let t = c.arg(i + 1)?;
                let signed = match t.first() {
                    Some(b'i' | b'I') => true,
                    Some(b'u' | b'U') => false,
                    _ => return fail("invalid bitfield type"),
                };
                let bits = u32::try_from(int(&t[1..], "bitfield type")?)
                    .ok()
                    .filter(|b| *b >= 1 && *b <= if signed { 64 } else { 63 })
                    .ok_or_else(|| Flow::Fail("invalid bitfield type".into()))?;
                let ob = c.arg(i + 2)?;
                let off = if let Some(n) = ob.strip_prefix(b"#") {
                    bit_offset(n)?.saturating_mul(bits as u64)
                } else {
                    bit_offset(ob)?
                };
                let val = if w == "GET" {
                    0
                } else {
                    c.int(i + 3, "value")?
                };
                ops.push((w.clone(), signed, bits, off, val, overflow.clone()));
                i += if w == "GET" { 3 } else { 4 };
            }
            o => return fail(format!("syntax error at {o}")),
        }
    }
    let writes: Vec<_> = ops.into_iter().filter(|o| o.0 != "GET").collect();
    if writes.is_empty() {
        return Ok(());
    }
    let need = writes
        .iter()
        .map(|o| ((o.3 + o.2 as u64 - 1) >> 3) as usize + 1)
        .max()
        .unwrap_or(0);
    let v = grow_string(rp, key, need, "BITFIELD")?;
    for (op, signed, bits, off, val, ovf) in writes {
        let old = get_bits(v, off, bits);
        let (min, max): (i128, i128) = if signed {
            (-(1i128 << (bits - 1)), (1i128 << (bits - 1)) - 1)
        } else {
            (0, (1i128 << bits) - 1)
        };
        let oldv: i128 = if signed && bits < 64 && (old >> (bits - 1)) & 1 == 1 {
            old as i128 - (1i128 << bits)
        } else if signed && bits == 64 {
            old as i64 as i128
        } else {
            old as i128
        };
        let target: i128 = if op == "SET" {
            val as i128
        } else {
            oldv + val as i128
        };
        let newv = if target < min || target > max {
            match ovf.as_str() {
                "FAIL" => continue,
                "SAT" => {
                    if target < min {
                        min
                    } else {
                        max
                    }
                }
                _ => target.rem_euclid(1i128 << bits),
            }
        } else {
            target
        };
        let mask: u64 = if bits == 64 {
            u64::MAX
        } else {
            (1u64 << bits) - 1
        };
        set_bits(v, off, bits, (newv as u64) & mask);
    }
    Ok(())
}
