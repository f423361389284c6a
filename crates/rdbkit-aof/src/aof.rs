//! One entry point: open an AOF in any layout (a file, a manifest or an `appendonlydir`),
//! iterate the whole data set in load order (the keys of an RDB preamble or base, then every
//! command), and get its `redis-check-aof` verdict.
//!
//! ```no_run
//! use rdbkit_aof::{Aof, AofItem};
//! let aof = Aof::open("appendonlydir")?;
//! for item in aof.items() {
//!     match item? {
//!         AofItem::Command(argv) => println!("{}", String::from_utf8_lossy(&argv[0])),
//!         AofItem::RdbKey(k) => println!("key {:?} ({})", k.key, k.value.family()),
//!         _ => {}
//!     }
//! }
//! let verdict = aof.check()?;
//! println!("valid: {}, commands: {}", verdict.valid, verdict.commands);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::path::{Path, PathBuf};

use rdbkit_rdb::{OwnedValue, RdbParser, Records};

use crate::check::{CheckOptions, StrictVerdict};
use crate::error::Error;
use crate::multipart::{resolve, AofFile, FileData, Layout};
use crate::parts::check_layout;
use crate::resp::{has_rdb_magic, Item, SliceReader};

/// An AOF data set, its files open (mapped, or read with
/// [`crate::multipart::read_without_mapping`]).
pub struct Aof {
    layout: Layout,
    data: Vec<FileData>,
}

/// A key of an RDB preamble or base, owned.
#[derive(Debug, Clone, PartialEq)]
pub struct RdbKey {
    /// The database.
    pub db: u64,
    /// The key's bytes.
    pub key: Vec<u8>,
    /// Absolute expiry, Unix ms.
    pub expire_ms: Option<i64>,
    /// The whole value, owned.
    pub value: OwnedValue,
}

/// One thing of the data set, in load order.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum AofItem {
    /// A key of the RDB preamble or base file.
    RdbKey(RdbKey),
    /// A command's arguments (`argv[0]` is its name).
    Command(Vec<Vec<u8>>),
    /// A `#TS:<unix seconds>` annotation.
    Timestamp(i64),
}

/// The strict verdict of [`Aof::check`] (what `redis-check-aof` says), with named fields.
#[derive(Debug, Clone)]
pub struct Verdict {
    /// Everything sound.
    pub valid: bool,
    /// Whole commands read before the first problem, over all files.
    pub commands: u64,
    /// The cut `redis-check-aof --fix` would make, if the damage is fixable.
    pub fixable: Option<Cut>,
    /// Why the damage cannot be fixed (a file that isn't last, an RDB part, ...).
    pub refusal: Option<String>,
    /// The verdict file by file.
    pub detail: StrictVerdict,
}

/// Where a fix would truncate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cut {
    /// The file to truncate.
    pub file: PathBuf,
    /// Its new length in bytes.
    pub offset: u64,
}

impl Aof {
    /// Opens `path`: a single AOF (with or without RDB preamble), a manifest, an
    /// `appendonlydir`, or a directory holding one. Files are read into memory unless the
    /// process called the `unsafe` [`rdbkit_rdb::allow_mapping`].
    ///
    /// ```
    /// use rdbkit_aof::{Aof, AofItem};
    /// let aof = Aof::open(concat!(env!("CARGO_MANIFEST_DIR"), "/../../testdata/aof/appendonlydir"))?;
    /// let (mut keys, mut commands) = (0, 0);
    /// for item in aof.items() {
    ///     match item? {
    ///         AofItem::RdbKey(_) => keys += 1,      // the base's keys come first
    ///         AofItem::Command(argv) => {
    ///             assert!(!argv.is_empty());
    ///             commands += 1
    ///         }
    ///         _ => {}
    ///     }
    /// }
    /// let verdict = aof.check()?;
    /// assert!(verdict.valid && commands > 0 && keys + commands > 0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn open(path: impl AsRef<Path>) -> Result<Aof, Error> {
        let layout = resolve(path.as_ref())?;
        let data = layout
            .files()
            .iter()
            .map(|f| FileData::open(&f.path))
            .collect::<Result<_, _>>()?;
        Ok(Aof { layout, data })
    }

    /// The files of the data set, in load order.
    pub fn files(&self) -> &[AofFile] {
        self.layout.files()
    }

    /// The layout (single file or manifest with its parts).
    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// Everything of the data set in load order: the keys of an RDB part, then the commands of
    /// each file. Ends after the first error (RDB errors keep their [`rdbkit_rdb::Error`] as
    /// the `source()`).
    pub fn items(&self) -> Items<'_> {
        Items {
            aof: self,
            file: 0,
            state: State::Start,
            done: false,
        }
    }

    /// The strict `redis-check-aof` verdict of the whole data set.
    pub fn check(&self) -> Result<Verdict, Error> {
        let detail = check_layout(&self.layout, CheckOptions::default())?;
        let commands = detail.files.iter().map(|f| f.check.commands).sum();
        let fixable = detail.fixable.and_then(|(i, offset)| {
            Some(Cut {
                file: self.layout.files().get(i)?.path.clone(),
                offset,
            })
        });
        Ok(Verdict {
            valid: detail.valid,
            commands,
            fixable,
            refusal: detail.refusal.clone(),
            detail,
        })
    }
}

enum State<'a> {
    Start,
    Rdb(Box<Records<'a>>),
    Resp(SliceReader<'a>),
}

/// The iterator of [`Aof::items`].
pub struct Items<'a> {
    aof: &'a Aof,
    file: usize,
    state: State<'a>,
    done: bool,
}

impl Items<'_> {
    fn path(&self) -> PathBuf {
        self.aof
            .layout
            .files()
            .get(self.file)
            .map(|f| f.path.clone())
            .unwrap_or_default()
    }

    fn fail(&mut self, e: Error) -> Option<Result<AofItem, Error>> {
        self.done = true;
        Some(Err(e))
    }
}

impl Iterator for Items<'_> {
    type Item = Result<AofItem, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if self.done {
                return None;
            }
            let aof = self.aof;
            let Some(data) = aof.data.get(self.file) else {
                self.done = true;
                return None;
            };
            let bytes = data.bytes();
            match &mut self.state {
                State::Start => {
                    self.state = if has_rdb_magic(bytes) {
                        State::Rdb(Box::new(
                            RdbParser::new(bytes, Default::default()).into_records(),
                        ))
                    } else {
                        State::Resp(SliceReader::new(bytes, 0))
                    };
                }
                State::Rdb(records) => match records.next() {
                    Some(Ok(rdbkit_rdb::Item::Key(k))) => {
                        let value = match k.value.to_owned_value() {
                            Ok(v) => v,
                            Err(e) => {
                                let e = e.in_key(Some(k.db), &k.key);
                                let path = self.path();
                                return self.fail(Error::RdbData {
                                    path,
                                    source: Box::new(e),
                                });
                            }
                        };
                        return Some(Ok(AofItem::RdbKey(RdbKey {
                            db: k.db,
                            key: k.key.into_owned(),
                            expire_ms: k.expire_ms,
                            value,
                        })));
                    }
                    Some(Ok(rdbkit_rdb::Item::Eof { end, .. })) => {
                        let start = usize::try_from(end).unwrap_or(usize::MAX);
                        self.state = State::Resp(SliceReader::new(bytes, start.min(bytes.len())));
                    }
                    Some(Ok(_)) => {}
                    Some(Err(e)) => {
                        let path = self.path();
                        return self.fail(Error::RdbData {
                            path,
                            source: Box::new(e),
                        });
                    }
                    None => {
                        // The parser ends only after EOF or an error.
                        self.done = true;
                        return None;
                    }
                },
                State::Resp(r) => match r.next_item() {
                    Ok(Some(Item::Command(c))) => {
                        return Some(Ok(AofItem::Command(c.args().map(<[u8]>::to_vec).collect())))
                    }
                    Ok(Some(Item::Annotation(a))) => {
                        if let Some(t) = a.timestamp {
                            return Some(Ok(AofItem::Timestamp(t)));
                        }
                    }
                    Ok(None) => {
                        self.file += 1;
                        self.state = State::Start;
                    }
                    Err(e) => {
                        let path = self.path();
                        return self.fail(Error::Resp { path, source: e });
                    }
                },
            }
        }
    }
}
