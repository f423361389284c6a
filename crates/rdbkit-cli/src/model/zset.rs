//! Sorted-set commands, and GEOADD (a sorted set of geohash scores).

use std::collections::BTreeMap;

use super::replay::{fail, float, int, Cmd, Flow, Replayer, R};
use super::{Bytes, MValue};

type Z = BTreeMap<Bytes, f64>;

fn zset<'r>(rp: &'r mut Replayer, key: &[u8]) -> Result<Option<&'r mut Z>, Flow> {
    Ok(rp.get_mut(key, "zset")?.map(|k| match &mut k.value {
        MValue::Zset(z) => z,
        _ => unreachable!("checked by get_mut"),
    }))
}

/// The members in rank order: by score, then by member bytes.
fn ranked(z: &Z) -> Vec<(Bytes, f64)> {
    let mut v: Vec<(Bytes, f64)> = z.iter().map(|(m, s)| (m.clone(), *s)).collect();
    v.sort_by(|a, b| a.1.total_cmp(&b.1).then_with(|| a.0.cmp(&b.0)));
    v
}

#[derive(Default)]
struct ZaddFlags {
    nx: bool,
    xx: bool,
    gt: bool,
    lt: bool,
    incr: bool,
}

fn zadd_pairs(rp: &mut Replayer, key: &[u8], f: &ZaddFlags, pairs: &[(f64, &[u8])]) -> R {
    if f.xx && zset(rp, key)?.is_none() {
        return Ok(());
    }
    let k = rp.get_or_create(key, || MValue::Zset(BTreeMap::new()))?;
    let MValue::Zset(z) = &mut k.value else {
        unreachable!()
    };
    for (score, m) in pairs {
        match z.get(*m).copied() {
            Some(old) => {
                if f.nx {
                    continue;
                }
                let new = if f.incr { old + score } else { *score };
                if new.is_nan() {
                    return fail("resulting score is not a number (NaN)");
                }
                if (f.gt && new <= old) || (f.lt && new >= old) {
                    continue;
                }
                z.insert(m.to_vec(), new);
            }
            None => {
                if f.xx {
                    continue;
                }
                z.insert(m.to_vec(), *score);
            }
        }
    }
    rp.drop_if_empty(key);
    Ok(())
}

/// ZADD key [NX|XX] [GT|LT] [CH] [INCR] score member...
pub fn zadd(rp: &mut Replayer, c: &Cmd) -> R {
    let mut f = ZaddFlags::default();
    let mut i = 1;
    loop {
        match c.word(i).as_str() {
            "NX" => f.nx = true,
            "XX" => f.xx = true,
            "GT" => f.gt = true,
            "LT" => f.lt = true,
            "CH" => {}
            "INCR" => f.incr = true,
            _ => break,
        }
        i += 1;
    }
    let rest = c.a.get(i..).unwrap_or_default();
    if rest.is_empty() || rest.len() % 2 != 0 || (f.incr && rest.len() != 2) {
        return fail("bad score/member list");
    }
    let mut pairs = Vec::new();
    for p in rest.chunks(2) {
        pairs.push((float(p[0])?, p[1]));
    }
    zadd_pairs(rp, c.arg(0)?, &f, &pairs)
}

/// ZINCRBY key increment member
pub fn zincrby(rp: &mut Replayer, c: &Cmd) -> R {
    let f = ZaddFlags {
        incr: true,
        ..ZaddFlags::default()
    };
    zadd_pairs(rp, c.arg(0)?, &f, &[(float(c.arg(1)?)?, c.arg(2)?)])
}

/// ZREM key member...
pub fn zrem(rp: &mut Replayer, c: &Cmd) -> R {
    let key = c.arg(0)?;
    if let Some(z) = zset(rp, key)? {
        for m in &c.a[1..] {
            z.remove(*m);
        }
    }
    rp.drop_if_empty(key);
    Ok(())
}

/// A score bound: value and exclusive.
fn score_bound(b: &[u8]) -> Result<(f64, bool), Flow> {
    match b.first() {
        Some(b'(') => Ok((float(&b[1..])?, true)),
        _ => Ok((float(b)?, false)),
    }
}

fn in_score(s: f64, min: (f64, bool), max: (f64, bool)) -> bool {
    (if min.1 { s > min.0 } else { s >= min.0 }) && (if max.1 { s < max.0 } else { s <= max.0 })
}

/// A lex bound: `-`, `+`, `[x`, `(x`.
#[derive(Clone)]
enum Lex {
    Min,
    Max,
    Incl(Bytes),
    Excl(Bytes),
}

fn lex_bound(b: &[u8]) -> Result<Lex, Flow> {
    match b.first() {
        Some(b'-') if b.len() == 1 => Ok(Lex::Min),
        Some(b'+') if b.len() == 1 => Ok(Lex::Max),
        Some(b'[') => Ok(Lex::Incl(b[1..].to_vec())),
        Some(b'(') => Ok(Lex::Excl(b[1..].to_vec())),
        _ => fail("min or max not valid string range item"),
    }
}

fn gte_min(m: &[u8], min: &Lex) -> bool {
    match min {
        Lex::Min => true,
        Lex::Max => false,
        Lex::Incl(x) => m >= x.as_slice(),
        Lex::Excl(x) => m > x.as_slice(),
    }
}

fn lte_max(m: &[u8], max: &Lex) -> bool {
    match max {
        Lex::Min => false,
        Lex::Max => true,
        Lex::Incl(x) => m <= x.as_slice(),
        Lex::Excl(x) => m < x.as_slice(),
    }
}

/// Lex ranges are defined on sorted sets whose scores are all equal; otherwise the server
/// walks its internal (score) order and the result depends on the encoding.
fn mixed_scores(z: &Z) -> R {
    let mut it = z.values();
    if let Some(first) = it.next() {
        if it.any(|s| s != first) {
            return Err(Flow::Unknown(
                "a lex range over a sorted set whose scores differ depends on the server's \
                 encoding"
                    .into(),
            ));
        }
    }
    Ok(())
}

/// Rank range [start, stop] (negative from the end) of a length → indexes, or None.
fn rank_range(len: usize, st: i64, en: i64) -> Option<(usize, usize)> {
    let l = len as i64;
    let st = if st < 0 { (l + st).max(0) } else { st };
    let en = if en < 0 { l + en } else { en };
    if st > en || st >= l {
        return None;
    }
    Some((st as usize, en.min(l - 1) as usize))
}

/// ZREMRANGEBYSCORE/ZREMRANGEBYRANK/ZREMRANGEBYLEX key min max
pub fn zremrange(rp: &mut Replayer, c: &Cmd) -> R {
    let key = c.arg(0)?;
    let (x, y) = (c.arg(1)?, c.arg(2)?);
    let Some(z) = zset(rp, key)? else {
        return Ok(());
    };
    match c.name {
        "ZREMRANGEBYSCORE" => {
            let (min, max) = (score_bound(x)?, score_bound(y)?);
            z.retain(|_, s| !in_score(*s, min, max));
        }
        "ZREMRANGEBYLEX" => {
            let (min, max) = (lex_bound(x)?, lex_bound(y)?);
            mixed_scores(z)?;
            z.retain(|m, _| !(gte_min(m, &min) && lte_max(m, &max)));
        }
        _ => {
            let r = ranked(z);
            if let Some((a, b)) = rank_range(r.len(), int(x, "start")?, int(y, "stop")?) {
                for (m, _) in &r[a..=b] {
                    z.remove(m);
                }
            }
        }
    }
    rp.drop_if_empty(key);
    Ok(())
}

fn pop(rp: &mut Replayer, key: &[u8], max: bool, n: usize) -> R {
    if let Some(z) = zset(rp, key)? {
        let mut r = ranked(z);
        if max {
            r.reverse();
        }
        for (m, _) in r.into_iter().take(n) {
            z.remove(&m);
        }
    }
    rp.drop_if_empty(key);
    Ok(())
}

/// ZPOPMIN/ZPOPMAX key [count]
pub fn zpop(rp: &mut Replayer, c: &Cmd) -> R {
    let n = match c.a.get(1) {
        Some(_) => usize::try_from(c.int(1, "count")?).unwrap_or(0),
        None => 1,
    };
    pop(rp, c.arg(0)?, c.name == "ZPOPMAX", n)
}

/// BZPOPMIN/BZPOPMAX key... timeout
pub fn bzpop(rp: &mut Replayer, c: &Cmd) -> R {
    for key in &c.a[..c.a.len().saturating_sub(1)] {
        if zset(rp, key)?.is_some() {
            return pop(rp, key, c.name == "BZPOPMAX", 1);
        }
    }
    Ok(())
}

/// ZMPOP numkeys key... MIN|MAX [COUNT n]; BZMPOP timeout numkeys ...
pub fn zmpop(rp: &mut Replayer, c: &Cmd) -> R {
    let base = usize::from(c.name == "BZMPOP");
    let nk = usize::try_from(c.int(base, "numkeys")?)
        .map_err(|_| Flow::Fail("numkeys is negative".into()))?;
    let keys =
        c.a.get(base + 1..base + 1 + nk)
            .ok_or_else(|| Flow::Fail("fewer keys than numkeys".into()))?;
    let max = c.word(base + 1 + nk) == "MAX";
    let count = if c.word(base + 2 + nk) == "COUNT" {
        usize::try_from(c.int(base + 3 + nk, "count")?).unwrap_or(0)
    } else {
        1
    };
    for key in keys {
        if zset(rp, key)?.is_some() {
            return pop(rp, key, max, count);
        }
    }
    Ok(())
}

/// A source of ZUNIONSTORE & co: a zset, or a set (every score 1).
fn source(rp: &mut Replayer, key: &[u8]) -> Result<Option<Z>, Flow> {
    match rp.db().get(key).map(|k| &k.value) {
        None => Ok(None),
        Some(MValue::Zset(z)) => Ok(Some(z.clone())),
        Some(MValue::Set(s)) => Ok(Some(s.keys().map(|m| (m.clone(), 1.0)).collect())),
        Some(_) => fail("a source key holds the wrong kind of value (WRONGTYPE)"),
    }
}

fn store(rp: &mut Replayer, dst: &[u8], z: Z) {
    rp.db().remove(dst);
    if !z.is_empty() {
        rp.put(dst, MValue::Zset(z));
    }
}

/// ZUNIONSTORE/ZINTERSTORE/ZDIFFSTORE dst numkeys key... [WEIGHTS w...] [AGGREGATE SUM|MIN|MAX]
pub fn zstore(rp: &mut Replayer, c: &Cmd) -> R {
    let dst = c.arg(0)?;
    let nk = usize::try_from(c.int(1, "numkeys")?)
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| Flow::Fail("numkeys must be positive".into()))?;
    let keys =
        c.a.get(2..2 + nk)
            .ok_or_else(|| Flow::Fail("fewer keys than numkeys".into()))?;
    let mut weights = vec![1.0; nk];
    let mut agg = "SUM".to_string();
    let mut i = 2 + nk;
    while i < c.a.len() {
        match c.word(i).as_str() {
            "WEIGHTS" => {
                for (j, w) in weights.iter_mut().enumerate() {
                    *w = float(c.arg(i + 1 + j)?)?;
                }
                i += 1 + nk;
            }
            "AGGREGATE" => {
                agg = c.word(i + 1);
                i += 2;
            }
            "WITHSCORES" => i += 1,
            o => return fail(format!("syntax error at {o}")),
        }
    }
    let mut srcs = Vec::new();
    for k in keys {
        srcs.push(source(rp, k)?);
    }
    let aggregate = |t: &mut f64, v: f64| match agg.as_str() {
        "MIN" => *t = t.min(v),
        "MAX" => *t = t.max(v),
        _ => {
            *t += v;
            if t.is_nan() {
                *t = 0.0;
            }
        }
    };
    let weigh = |s: f64, w: f64| {
        let v = s * w;
        if v.is_nan() {
            0.0
        } else {
            v
        }
    };
    let out: Z = match c.name {
        "ZUNIONSTORE" => {
            let mut out = Z::new();
            for (src, w) in srcs.iter().zip(&weights) {
                for (m, s) in src.iter().flatten() {
                    let v = weigh(*s, *w);
                    match out.get_mut(m) {
                        Some(t) => aggregate(t, v),
                        None => {
                            out.insert(m.clone(), v);
                        }
                    }
                }
            }
            out
        }
        "ZINTERSTORE" => {
            if srcs.iter().any(|s| s.is_none()) {
                Z::new()
            } else {
                let srcs: Vec<Z> = srcs.into_iter().flatten().collect();
                let mut out = Z::new();
                for (m, s) in &srcs[0] {
                    if srcs[1..].iter().all(|z| z.contains_key(m)) {
                        let mut t = weigh(*s, weights[0]);
                        for (z, w) in srcs[1..].iter().zip(&weights[1..]) {
                            aggregate(&mut t, weigh(z[m], *w));
                        }
                        out.insert(m.clone(), t);
                    }
                }
                out
            }
        }
        _ => {
            let mut it = srcs.into_iter();
            let mut first = it.next().flatten().unwrap_or_default();
            for z in it.flatten() {
                first.retain(|m, _| !z.contains_key(m));
            }
            first
        }
    };
    store(rp, dst, out);
    Ok(())
}

/// ZRANGESTORE dst src min max [BYSCORE|BYLEX] [REV] [LIMIT offset count]
pub fn zrangestore(rp: &mut Replayer, c: &Cmd) -> R {
    let (dst, src) = (c.arg(0)?, c.arg(1)?);
    let (x, y) = (c.arg(2)?, c.arg(3)?);
    let (mut by, mut rev, mut limit) = ("RANK", false, None);
    let mut i = 4;
    while i < c.a.len() {
        match c.word(i).as_str() {
            "BYSCORE" => by = "SCORE",
            "BYLEX" => by = "LEX",
            "REV" => rev = true,
            "LIMIT" => {
                limit = Some((c.int(i + 1, "offset")?, c.int(i + 2, "count")?));
                i += 2;
            }
            o => return fail(format!("syntax error at {o}")),
        }
        i += 1;
    }
    let z = zset(rp, src)?.cloned().unwrap_or_default();
    let mut r = ranked(&z);
    if rev {
        r.reverse();
    }
    let picked: Vec<(Bytes, f64)> = match by {
        "RANK" => match rank_range(r.len(), int(x, "start")?, int(y, "stop")?) {
            Some((a, b)) => r[a..=b].to_vec(),
            None => Vec::new(),
        },
        "SCORE" => {
            // With REV the first bound is the maximum.
            let (min, max) = if rev {
                (score_bound(y)?, score_bound(x)?)
            } else {
                (score_bound(x)?, score_bound(y)?)
            };
            r.into_iter()
                .filter(|(_, s)| in_score(*s, min, max))
                .collect()
        }
        _ => {
            mixed_scores(&z)?;
            let (min, max) = if rev {
                (lex_bound(y)?, lex_bound(x)?)
            } else {
                (lex_bound(x)?, lex_bound(y)?)
            };
            r.into_iter()
                .filter(|(m, _)| gte_min(m, &min) && lte_max(m, &max))
                .collect()
        }
    };
    let picked = match (limit, by) {
        (Some((off, cnt)), "SCORE" | "LEX") => {
            if off < 0 {
                Vec::new()
            } else {
                let it = picked.into_iter().skip(off as usize);
                if cnt < 0 {
                    it.collect()
                } else {
                    it.take(cnt as usize).collect()
                }
            }
        }
        _ => picked,
    };
    store(rp, dst, picked.into_iter().collect());
    Ok(())
}

const LAT_MIN: f64 = -85.05112878;
const LAT_MAX: f64 = 85.05112878;

fn spread(v: u32) -> u64 {
    let mut x = v as u64;
    x = (x | (x << 16)) & 0x0000_FFFF_0000_FFFF;
    x = (x | (x << 8)) & 0x00FF_00FF_00FF_00FF;
    x = (x | (x << 4)) & 0x0F0F_0F0F_0F0F_0F0F;
    x = (x | (x << 2)) & 0x3333_3333_3333_3333;
    (x | (x << 1)) & 0x5555_5555_5555_5555
}

/// The 52-bit geohash score of a position, as Redis's `geohashEncodeWGS84` computes it.
pub fn geohash(lon: f64, lat: f64) -> Option<f64> {
    if !(-180.0..=180.0).contains(&lon) || !(LAT_MIN..=LAT_MAX).contains(&lat) {
        return None;
    }
    let lat_off = (lat - LAT_MIN) / (LAT_MAX - LAT_MIN) * (1u64 << 26) as f64;
    let lon_off = (lon + 180.0) / 360.0 * (1u64 << 26) as f64;
    let bits = spread(lat_off as u32) | (spread(lon_off as u32) << 1);
    Some(bits as f64)
}

/// GEOADD key [NX|XX] [CH] lon lat member... (servers since 3.2 propagate it as ZADD)
pub fn geoadd(rp: &mut Replayer, c: &Cmd) -> R {
    let mut f = ZaddFlags::default();
    let mut i = 1;
    loop {
        match c.word(i).as_str() {
            "NX" => f.nx = true,
            "XX" => f.xx = true,
            "CH" => {}
            _ => break,
        }
        i += 1;
    }
    let rest = c.a.get(i..).unwrap_or_default();
    if rest.is_empty() || rest.len() % 3 != 0 {
        return fail("bad longitude/latitude/member list");
    }
    let mut pairs = Vec::new();
    for t in rest.chunks(3) {
        let (lon, lat) = (float(t[0])?, float(t[1])?);
        let s = geohash(lon, lat).ok_or_else(|| Flow::Fail("invalid longitude,latitude".into()))?;
        pairs.push((s, t[2]));
    }
    zadd_pairs(rp, c.arg(0)?, &f, &pairs)
}

const EARTH_RADIUS_M: f64 = 6372797.560856;

fn squash(mut x: u64) -> u32 {
    x &= 0x5555_5555_5555_5555;
    x = (x | (x >> 1)) & 0x3333_3333_3333_3333;
    x = (x | (x >> 2)) & 0x0F0F_0F0F_0F0F_0F0F;
    x = (x | (x >> 4)) & 0x00FF_00FF_00FF_00FF;
    x = (x | (x >> 8)) & 0x0000_FFFF_0000_FFFF;
    x = (x | (x >> 16)) & 0x0000_0000_FFFF_FFFF;
    x as u32
}

/// The (lon, lat) a geohash score stands for: the centre of its cell, as Redis decodes it.
pub fn geo_decode(score: f64) -> (f64, f64) {
    let bits = score as u64;
    let (ilat, ilon) = (squash(bits) as f64, squash(bits >> 1) as f64);
    let step = (1u64 << 26) as f64;
    let (lat_scale, lon_scale) = (LAT_MAX - LAT_MIN, 360.0);
    let lat_min = LAT_MIN + (ilat / step) * lat_scale;
    let lat_max = LAT_MIN + ((ilat + 1.0) / step) * lat_scale;
    let lon_min = -180.0 + (ilon / step) * lon_scale;
    let lon_max = -180.0 + ((ilon + 1.0) / step) * lon_scale;
    let lon = ((lon_min + lon_max) / 2.0).clamp(-180.0, 180.0);
    let lat = ((lat_min + lat_max) / 2.0).clamp(LAT_MIN, LAT_MAX);
    (lon, lat)
}

fn deg_rad(d: f64) -> f64 {
    d * (std::f64::consts::PI / 180.0)
}

fn lat_distance(lat1: f64, lat2: f64) -> f64 {
    EARTH_RADIUS_M * (deg_rad(lat2) - deg_rad(lat1)).abs()
}

/// Haversine distance in meters (`geohashGetDistance`).
fn distance(lon1: f64, lat1: f64, lon2: f64, lat2: f64) -> f64 {
    let v = ((deg_rad(lon2) - deg_rad(lon1)) / 2.0).sin();
    if v == 0.0 {
        return lat_distance(lat1, lat2);
    }
    let u = ((deg_rad(lat2) - deg_rad(lat1)) / 2.0).sin();
    let a = u * u + deg_rad(lat1).cos() * deg_rad(lat2).cos() * v * v;
    2.0 * EARTH_RADIUS_M * a.sqrt().asin()
}

fn unit(b: &[u8]) -> Result<f64, Flow> {
    match String::from_utf8_lossy(b).to_ascii_lowercase().as_str() {
        "m" => Ok(1.0),
        "km" => Ok(1000.0),
        "ft" => Ok(0.3048),
        "mi" => Ok(1609.34),
        _ => fail("unsupported unit provided. please use M, KM, FT, MI"),
    }
}

enum Shape {
    Radius(f64),
    Box(f64, f64),
}

/// GEORADIUS/GEORADIUSBYMEMBER ... STORE|STOREDIST, GEOSEARCHSTORE: the search the server
/// did, over every member (the server's 9 geohash boxes cover the shape), filtered by the
/// exact distance test, sorted and cut by COUNT, stored as scores or distances.
pub fn geostore(rp: &mut Replayer, c: &Cmd) -> R {
    let (src, base) = match c.name {
        "GEOSEARCHSTORE" => (c.arg(1)?, 2),
        "GEORADIUS" => (c.arg(0)?, 5),
        _ => (c.arg(0)?, 4),
    };
    let z = match rp.db().get(src).map(|k| &k.value) {
        None => None,
        Some(MValue::Zset(z)) => Some(z.clone()),
        Some(_) => return fail("WRONGTYPE"),
    };
    let mut center: Option<(f64, f64)> = None;
    let mut shape = None;
    let mut conv = 1.0;
    let member_center = |m: &[u8]| -> Result<Option<(f64, f64)>, Flow> {
        match &z {
            None => Ok(None),
            Some(z) => match z.get(m) {
                Some(s) => Ok(Some(geo_decode(*s))),
                None => fail("could not decode requested zset member"),
            },
        }
    };
    match c.name {
        "GEORADIUS" => {
            center = Some((float(c.arg(1)?)?, float(c.arg(2)?)?));
            shape = Some(Shape::Radius(float(c.arg(3)?)?));
            conv = unit(c.arg(4)?)?;
        }
        "GEORADIUSBYMEMBER" => {
            center = member_center(c.arg(1)?)?;
            shape = Some(Shape::Radius(float(c.arg(2)?)?));
            conv = unit(c.arg(3)?)?;
        }
        _ => {}
    }
    let (mut dest, mut storedist, mut count, mut any, mut desc, mut sort) =
        (None, false, 0usize, false, false, false);
    if c.name == "GEOSEARCHSTORE" {
        dest = Some(c.arg(0)?);
    }
    let mut i = base;
    while i < c.a.len() {
        match c.word(i).as_str() {
            "ASC" => sort = true,
            "DESC" => {
                sort = true;
                desc = true
            }
            "ANY" => any = true,
            "COUNT" => {
                count = usize::try_from(c.int(i + 1, "COUNT")?)
                    .ok()
                    .filter(|n| *n > 0)
                    .ok_or_else(|| Flow::Fail("COUNT must be > 0".into()))?;
                i += 1;
            }
            "STORE" => {
                dest = Some(c.arg(i + 1)?);
                i += 1;
            }
            "STOREDIST" if c.name == "GEOSEARCHSTORE" => storedist = true,
            "STOREDIST" => {
                dest = Some(c.arg(i + 1)?);
                storedist = true;
                i += 1;
            }
            "FROMMEMBER" => {
                center = member_center(c.arg(i + 1)?)?;
                i += 1;
            }
            "FROMLONLAT" => {
                center = Some((float(c.arg(i + 1)?)?, float(c.arg(i + 2)?)?));
                i += 2;
            }
            "BYRADIUS" => {
                shape = Some(Shape::Radius(float(c.arg(i + 1)?)?));
                conv = unit(c.arg(i + 2)?)?;
                i += 2;
            }
            "BYBOX" => {
                shape = Some(Shape::Box(float(c.arg(i + 1)?)?, float(c.arg(i + 2)?)?));
                conv = unit(c.arg(i + 3)?)?;
                i += 3;
            }
            "WITHDIST" | "WITHHASH" | "WITHCOORD" => {}
            o => return fail(format!("syntax error at {o}")),
        }
        i += 1;
    }
    let Some(dst) = dest else {
        return Ok(()); // a read
    };
    let (Some(z), Some((cx, cy)), Some(shape)) = (z, center, shape) else {
        rp.db().remove(dst);
        return Ok(());
    };
    let mut found: Vec<(Bytes, f64, f64)> = Vec::new(); // member, score, distance (m)
    for (m, s) in &z {
        let (x, y) = geo_decode(*s);
        let d = match shape {
            Shape::Radius(r) => {
                let d = distance(cx, cy, x, y);
                if d > r * conv {
                    continue;
                }
                d
            }
            Shape::Box(w, h) => {
                if lat_distance(y, cy) > h * conv / 2.0 || distance(x, y, cx, y) > w * conv / 2.0 {
                    continue;
                }
                distance(cx, cy, x, y)
            }
        };
        found.push((m.clone(), *s, d));
    }
    if count != 0 && count < found.len() {
        if any {
            return Err(Flow::Unknown(
                "ANY keeps the first matches in the server's search order".into(),
            ));
        }
        found.sort_by(|a, b| a.2.total_cmp(&b.2));
        if desc {
            found.reverse();
        }
        if found[count - 1].2 == found[count].2 {
            return Err(Flow::Unknown(
                "COUNT cuts between members at the same distance (the server's qsort picks)".into(),
            ));
        }
        found.truncate(count);
    }
    let _ = sort;
    let out: Z = found
        .into_iter()
        .map(|(m, s, d)| (m, if storedist { d / conv } else { s }))
        .collect();
    store(rp, dst, out);
    Ok(())
}
