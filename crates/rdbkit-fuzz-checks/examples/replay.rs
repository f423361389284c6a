//! Replays every file of the given directories (or files) through one fuzz target's check:
//! `replay TARGET PATH...` — to profile a check on stable (callgrind, `perf stat`) with the
//! inputs a fuzz run found, e.g. `replay rdb_rewrite fuzz/corpus/rdb_rewrite`.

use std::path::PathBuf;

fn main() {
    let mut args = std::env::args().skip(1);
    let Some(name) = args.next() else {
        eprintln!("usage: replay TARGET PATH...");
        std::process::exit(2);
    };
    let Some((_, check)) = rdbkit_fuzz_checks::TARGETS.iter().find(|(n, _)| *n == name) else {
        eprintln!("replay: no target {name}");
        std::process::exit(2);
    };
    let mut files: Vec<PathBuf> = Vec::new();
    for a in args {
        let p = PathBuf::from(a);
        if p.is_dir() {
            for e in std::fs::read_dir(&p)
                .expect("a readable directory")
                .flatten()
            {
                files.push(e.path());
            }
        } else {
            files.push(p);
        }
    }
    files.sort();
    for f in &files {
        check(&std::fs::read(f).expect("a readable file"));
    }
    eprintln!("{name}: {} inputs", files.len());
}
