//! The decode flags every reading subcommand shares, with the same names and meaning
//! (flattened into each subcommand's clap `Args`): `--shallow`/`--deep`, `--no-checksum`,
//! `--best-effort`, `--enterprise`; and `--threads` for the subcommands that decode on several
//! threads (`check`, `verify`; `verify -j/--jobs` is its old, hidden spelling).

use rdbkit_rdb::Options;

/// How an RDB is decoded. Each subcommand has its default depth (`check` and `verify`
/// validate deeply, the others decode shallowly); `--deep` and `--shallow` override it.
#[derive(clap::Args, Clone, Copy, Debug, Default)]
pub struct DecodeArgs {
    /// Validate every value like `sanitize-dump-payload yes` (the default of `check` and
    /// `verify`).
    #[arg(long, conflicts_with = "shallow")]
    pub deep: bool,
    /// Skip deep validation of compact encodings (faster; the checksum is still verified).
    #[arg(long)]
    pub shallow: bool,
    /// Do not verify the CRC-64 trailer.
    #[arg(long)]
    pub no_checksum: bool,
    /// Read an RDB version newer than this build knows, stopping at the first unknown byte.
    #[arg(long)]
    pub best_effort: bool,
    /// Accept Redis Enterprise opcodes 107 and 121.
    #[arg(long)]
    pub enterprise: bool,
}

impl DecodeArgs {
    /// Whether values are validated deeply, given the subcommand's default.
    pub fn deep_or(&self, default: bool) -> bool {
        if self.deep {
            true
        } else if self.shallow {
            false
        } else {
            default
        }
    }

    /// The decoder's options, given the subcommand's default depth.
    pub fn options(&self, deep_by_default: bool) -> Options {
        Options::new()
            .deep(self.deep_or(deep_by_default))
            .verify_checksum(!self.no_checksum)
            .best_effort(self.best_effort)
            .enterprise(self.enterprise)
    }
}

/// `--threads N` of the subcommands that decode on several threads.
#[derive(clap::Args, Clone, Copy, Debug, Default)]
pub struct ThreadArgs {
    /// Threads that decode and validate (default and maximum: one per core; 1 is
    /// sequential).
    #[arg(long, value_name = "N", short_alias = 'j', alias = "jobs")]
    pub threads: Option<usize>,
}

impl ThreadArgs {
    /// The number of threads: `--threads`, or one per core.
    pub fn count(&self) -> usize {
        self.threads.unwrap_or_else(|| {
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct T {
        #[command(flatten)]
        decode: DecodeArgs,
        #[command(flatten)]
        threads: ThreadArgs,
    }

    #[test]
    fn depth_and_aliases() {
        let t = T::parse_from(["t"]);
        assert!(t.decode.deep_or(true) && !t.decode.deep_or(false));
        let t = T::parse_from(["t", "--deep", "--no-checksum", "-j", "3"]);
        assert!(t.decode.deep_or(false));
        assert!(!t.decode.options(false).verify_checksum);
        assert_eq!(t.threads.count(), 3);
        let t = T::parse_from(["t", "--shallow", "--jobs", "2"]);
        assert!(!t.decode.deep_or(true));
        assert_eq!(t.threads.threads, Some(2));
        assert!(T::try_parse_from(["t", "--deep", "--shallow"]).is_err());
    }
}
