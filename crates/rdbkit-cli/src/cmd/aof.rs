use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Subcommand)]
pub enum Command {
    /// Check an AOF file, manifest or appendonlydir/.
    Check { path: PathBuf },
}

pub fn run(_c: Command) -> ExitCode {
    eprintln!("rdbkit: not implemented yet");
    ExitCode::from(2)
}

pub fn drop_in(_argv0: &OsString, _args: Vec<OsString>) -> ExitCode {
    eprintln!("rdbkit: not implemented yet");
    ExitCode::from(2)
}
