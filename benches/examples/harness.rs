//! The core of `rdbkit check` and `rdbkit aof check` without the CLI, for profiling:
//! `harness rdb FILE [shallow]` | `harness aof PATH`.

use std::process::ExitCode;

use rdbkit_rdb::{Options, RdbFile, Record};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    match (args.get(1).map(String::as_str), args.get(2)) {
        (Some("rdb"), Some(path)) => {
            // SAFETY: the harness reads benchmark inputs nothing writes meanwhile.
            let f = unsafe { RdbFile::open_mmap(path) }.expect("open");
            let opts = Options::default().deep(args.get(3).map(String::as_str) != Some("shallow"));
            std::thread::scope(|s| {
                let mut p = f.parser(opts).crc_on_thread(s);
                let mut keys = 0u64;
                while let Some(r) = p.next() {
                    match r {
                        Ok(Record::Key(_)) => keys += 1,
                        Ok(Record::Eof { checksum, .. }) => println!("{keys} keys, {checksum:?}"),
                        Ok(_) => {}
                        Err(e) => {
                            eprintln!("{e}");
                            return ExitCode::from(2);
                        }
                    }
                }
                ExitCode::SUCCESS
            })
        }
        (Some("aof"), Some(path)) => {
            let r = rdbkit_aof::report::check_path(
                std::path::Path::new(path),
                rdbkit_aof::check::CheckOptions::default(),
            );
            println!("strict valid: {}, server: {:?}", r.strict_valid(), r.server);
            ExitCode::SUCCESS
        }
        _ => {
            eprintln!("usage: harness rdb FILE [shallow] | harness aof PATH");
            ExitCode::from(1)
        }
    }
}
