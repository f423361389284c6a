//! The replay engine's driver: applies an AOF's write commands to a [`Dataset`] the way the
//! server applies them when it loads the file (no expiry while loading, transactions applied
//! at `EXEC`). Each command's semantics live in one handler of [`super::table`]; this module
//! looks the command up there, checks its arity, runs the handler and keeps the value-unknown
//! marks and the memory budget.

use super::replay::{est, text, type_of, Cmd, Flow, ReplayError, Replayer};
use super::table::{self, Spec};
use super::{Bytes, MKey, MValue};

impl Replayer {
    /// Applies one command found at `file:offset` (args[0] is the name).
    pub fn apply_at(&mut self, file: &str, offset: u64, args: &[&[u8]]) -> Result<(), ReplayError> {
        self.at = format!("{file}:{offset}");
        self.apply(args)
    }

    /// Applies one command (args[0] is the name).
    pub fn apply(&mut self, args: &[&[u8]]) -> Result<(), ReplayError> {
        let Some((name, a)) = args.split_first() else {
            return Ok(());
        };
        let cmd = String::from_utf8_lossy(name).to_ascii_uppercase();
        match cmd.as_str() {
            "MULTI" => {
                self.multi = Some(Vec::new());
                return Ok(());
            }
            "EXEC" => {
                if let Some(q) = self.multi.take() {
                    for (c, args) in q {
                        let a: Vec<&[u8]> = args.iter().map(|v| v.as_slice()).collect();
                        self.run(&c, &a)?;
                    }
                }
                return Ok(());
            }
            "DISCARD" => {
                self.multi = None;
                return Ok(());
            }
            _ => {}
        }
        if let Some(q) = &mut self.multi {
            q.push((cmd, a.iter().map(|v| v.to_vec()).collect()));
            return Ok(());
        }
        self.run(&cmd, a)
    }

    fn run(&mut self, cmd: &str, a: &[&[u8]]) -> Result<(), ReplayError> {
        let Some(spec) = table::lookup(cmd) else {
            return Err(ReplayError(format!(
                "command {cmd} is not a write command the AOF replay knows (it replays: {})",
                table::supported()
            )));
        };
        if !spec.arity_ok(a.len() + 1) {
            return Err(ReplayError(format!(
                "{cmd}: wrong number of arguments ({})",
                a.len()
            )));
        }
        self.commands += 1;
        let keys: Vec<Bytes> = (spec.keys)(a).into_iter().map(|k| k.to_vec()).collect();
        // A command reading or changing a value already unknown gives an unknown result,
        // unless it replaces the value whatever it was.
        if !spec.overwrites() {
            let reads = if spec.store {
                keys.get(1..).unwrap_or_default()
            } else {
                &keys[..]
            };
            let dep = reads.iter().find_map(|k| match self.db().get(k) {
                Some(MKey {
                    value: MValue::Unknown { reason, .. },
                    ..
                }) => Some((k.clone(), reason.clone())),
                _ => None,
            });
            if let Some((k, why)) = dep {
                self.mark_unknown(
                    spec,
                    &keys,
                    format!(
                        "{cmd} at {} read key {} whose value is unknown ({why})",
                        self.at,
                        text(&k)
                    ),
                );
                return Ok(());
            }
        }
        let before: u64 = keys
            .iter()
            .map(|k| self.db().get(k).map_or(0, |v| est(&v.value)))
            .sum();
        let c = Cmd { name: cmd, a };
        match (spec.handler)(self, &c) {
            Ok(()) => {}
            Err(Flow::Fail(m)) => {
                return Err(ReplayError(if m.starts_with(cmd) {
                    m
                } else {
                    format!("{cmd}: {m}")
                }))
            }
            Err(Flow::Unknown(why)) => {
                let reason = format!("{cmd} at {}: {why}", self.at);
                self.mark_unknown(spec, &keys, reason);
            }
        }
        let after: u64 = keys
            .iter()
            .map(|k| self.db().get(k).map_or(0, |v| est(&v.value)))
            .sum();
        self.used = (self.used + after).saturating_sub(before);
        if self.used > self.budget {
            return Err(ReplayError(format!(
                "{cmd} on key {} at {}: the replayed data set would exceed the replay memory \
                 budget of {} bytes (about {} bytes estimated; raise it with --max-memory)",
                keys.first().map(|k| text(k)).unwrap_or_default(),
                self.at,
                self.budget,
                self.used
            )));
        }
        Ok(())
    }

    fn mark_unknown(&mut self, spec: &Spec, keys: &[Bytes], reason: String) {
        *self
            .unknown_commands
            .entry(spec.name.to_string())
            .or_default() += 1;
        // A STORE command changes its destination only.
        let keys = if spec.store {
            keys.get(..1).unwrap_or_default()
        } else {
            keys
        };
        for k in keys {
            let db = self.db();
            let (ty, expire_ms) = match db.get(k) {
                Some(v) => (type_of(&v.value).or(spec.ty), v.expire_ms),
                None => (spec.ty, None),
            };
            db.insert(
                k.clone(),
                MKey {
                    value: MValue::Unknown {
                        ty,
                        reason: reason.clone(),
                    },
                    expire_ms,
                },
            );
        }
    }
}
