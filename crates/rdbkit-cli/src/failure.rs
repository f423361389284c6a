//! The one failure path of the command line: every subcommand's `run` returns
//! `Result<(), Failure>`, and `main` turns the outcome into the exit status once
//! ([`exit`]), printing the message (as ripgrep does). The numbers are the table of
//! [`EXIT_CODES`], shown by `rdbkit --help` and in the README.

use std::fmt;
use std::io;
use std::process::ExitCode;

/// The exit statuses of every subcommand (shown by `rdbkit --help`; the README has the same
/// table).
pub const EXIT_CODES: &str = "Exit status, every subcommand:
  0  success: the input is sound / the files are equal / every policy passed; also when the
     reader of the output goes away (`rdbkit keys ... | head`)
  1  usage error; an input that cannot be opened; output that cannot be written;
     `diff`: the files differ; `verify`: a policy failed, or the server differs (--against)
  2  an input is damaged or unsupported (an AOF whose commands can't be replayed included);
     `verify`: a backup is damaged or unreadable, or the server can't be reached;
     `diff`: an error
  3  `convert`/`split`/`merge`: a value the target cannot hold and --drop does not name;
     `restore`: keys exist (nothing written in either case)
  4  `restore`: the server refused a key or the connection was lost mid-way
130  `convert`: interrupted (the temporary file is removed)
  (1 also: an input of a kind the subcommand does not take, e.g. `dump`/`size` of an AOF)
`aof check`/`aof fix` and the `redis-check-aof` drop-in keep redis-check-aof's codes:
0 valid or fixed, 1 not valid / refused / declined, 2 unreadable.";

/// Why a subcommand did not succeed. Each variant has one exit status ([`Failure::code`]);
/// the message is printed once, by [`exit`].
#[derive(Debug)]
pub enum Failure {
    /// The arguments are wrong (a bad flag value, flags that do not go together): exit 1.
    Usage(String),
    /// An input cannot be opened, or is of a kind the subcommand does not take: exit 1.
    Open(String),
    /// Standard output cannot be written: exit 1; a reader that went away
    /// ([`io::ErrorKind::BrokenPipe`], `rdbkit keys ... | head`) is success, exit 0.
    Write(io::Error),
    /// A file (other than standard output) cannot be written: exit 1.
    Output(String),
    /// An input is damaged or unsupported, the message names the file (and offset, key):
    /// exit 2.
    Damaged(String),
    /// An RDB decode error not yet named with its file ([`Failure::in_file`] names it): exit 2.
    Rdb(rdbkit_rdb::Error),
    /// Exit 2 where the subcommand's own rules say so: `verify --against` cannot compare (bad
    /// arguments, an unreadable input, an unreachable server); `aof check`/`aof fix`: a file
    /// that cannot be read (redis-check-aof's codes).
    Trouble(String),
    /// The subcommand refuses what the input holds (nothing written): `convert`, `split`,
    /// `merge`: a value the target cannot hold; `restore`: keys that exist: exit 3.
    Refused(String),
    /// `restore`: the server refused a key or the connection was lost mid-way: exit 4.
    Server(String),
    /// Stopped by a signal (Ctrl-C, SIGTERM), its temporary output removed: exit 130.
    Interrupted(String),
    /// A negative answer the subcommand has already reported (the files differ, a policy
    /// failed, an AOF is not valid), or a status decided by rules of its own (the
    /// `redis-check-aof` drop-in): this status, nothing more printed.
    Reported(u8),
}

impl Failure {
    /// The exit status (see [`EXIT_CODES`]).
    pub fn code(&self) -> u8 {
        match self {
            Failure::Write(e) if e.kind() == io::ErrorKind::BrokenPipe => 0,
            Failure::Usage(_) | Failure::Open(_) | Failure::Write(_) | Failure::Output(_) => 1,
            Failure::Damaged(_) | Failure::Rdb(_) | Failure::Trouble(_) => 2,
            Failure::Refused(_) => 3,
            Failure::Server(_) => 4,
            Failure::Interrupted(_) => 130,
            Failure::Reported(c) => *c,
        }
    }

    /// An [`Failure::Rdb`] error named with the input `name` (becomes [`Failure::Damaged`]);
    /// other failures unchanged.
    pub fn in_file(self, name: &str) -> Failure {
        match self {
            Failure::Rdb(e) => Failure::Damaged(format!("{name}: {e}")),
            f => f,
        }
    }

    /// The exit status in `subcommand`: [`Failure::code`], except that `diff` exits 2 for
    /// every error (as `cmp` and `diff` do: 1 means the files differ).
    pub fn code_in(&self, subcommand: &str) -> u8 {
        match (subcommand, self.code()) {
            ("diff", 1) if !matches!(self, Failure::Reported(_)) => 2,
            (_, c) => c,
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Usage(m)
            | Failure::Open(m)
            | Failure::Output(m)
            | Failure::Damaged(m)
            | Failure::Trouble(m)
            | Failure::Refused(m)
            | Failure::Server(m)
            | Failure::Interrupted(m) => f.write_str(m),
            Failure::Write(e) => write!(f, "writing output: {e}"),
            Failure::Rdb(e) => write!(f, "{e}"),
            Failure::Reported(c) => write!(f, "exit status {c}"),
        }
    }
}

/// Flushes `out` after the work: a write error of the flush counts only when the work
/// itself succeeded (its own failure is the one to report).
pub fn flushed(result: Result<(), Failure>, out: &mut impl io::Write) -> Result<(), Failure> {
    let flushed = out.flush();
    result?;
    flushed.map_err(Failure::Write)
}

/// The exit status of a subcommand's outcome; a failure's message is printed here, once, as
/// one line on standard error: `rdbkit SUBCOMMAND: ...` for what concerns the command itself
/// (a usage error, a refusal, a server's failure, an interruption), `rdbkit: ...` for what
/// concerns a file (the message names it).
pub fn exit(subcommand: &str, outcome: Result<(), Failure>) -> ExitCode {
    let Err(f) = outcome else {
        return ExitCode::SUCCESS;
    };
    match &f {
        Failure::Reported(_) => {}
        Failure::Write(e) if e.kind() == io::ErrorKind::BrokenPipe => {}
        Failure::Usage(m) | Failure::Refused(m) | Failure::Server(m) | Failure::Interrupted(m) => {
            eprintln!("rdbkit {subcommand}: {m}")
        }
        _ => eprintln!("rdbkit: {f}"),
    }
    ExitCode::from(f.code_in(subcommand))
}

/// The exit status of a command line clap could not parse, its message printed by clap (to
/// standard output for `--help` and `--version`, which are success, exit 0; to standard error
/// otherwise): a usage error, [`Failure::Usage`]'s status in `subcommand` (clap's own exit
/// would be 2, which the table gives to damaged inputs).
pub fn clap_exit(e: &clap::Error, subcommand: &str) -> ExitCode {
    use clap::error::ErrorKind;
    let printed = e.print();
    match e.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => match printed {
            Err(w) if w.kind() != io::ErrorKind::BrokenPipe => {
                ExitCode::from(Failure::Write(w).code())
            }
            _ => ExitCode::SUCCESS,
        },
        _ => ExitCode::from(Failure::Usage(e.to_string()).code_in(subcommand)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_follow_the_table() {
        assert_eq!(Failure::Usage("x".into()).code(), 1);
        assert_eq!(Failure::Open("x".into()).code(), 1);
        assert_eq!(Failure::Output("x".into()).code(), 1);
        assert_eq!(Failure::Write(io::Error::other("disk full")).code(), 1);
        assert_eq!(
            Failure::Write(io::Error::from(io::ErrorKind::BrokenPipe)).code(),
            0
        );
        assert_eq!(Failure::Damaged("x".into()).code(), 2);
        assert_eq!(Failure::Trouble("x".into()).code(), 2);
        assert_eq!(Failure::Refused("x".into()).code(), 3);
        assert_eq!(Failure::Server("x".into()).code(), 4);
        assert_eq!(Failure::Interrupted("x".into()).code(), 130);
        assert_eq!(Failure::Usage("x".into()).code_in("diff"), 2);
        assert_eq!(Failure::Reported(1).code_in("diff"), 1);
        assert_eq!(Failure::Usage("x".into()).code_in("keys"), 1);
    }
}
