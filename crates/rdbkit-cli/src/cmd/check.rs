use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    /// The file to read.
    pub file: PathBuf,
}

pub fn run(_args: Args) -> ExitCode {
    eprintln!("rdbkit: not implemented yet");
    ExitCode::from(2)
}
