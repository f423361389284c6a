//! Command lines clap cannot parse follow the exit-status table (`failure.rs`, the README):
//! a usage error is 1 (2 for `diff`, where 1 means "the files differ"), never clap's own 2,
//! which the table gives to damaged inputs; `--help` and `--version` print to standard output
//! and exit 0.

mod common;

use common::run_rdbkit;

fn run(args: &[&str]) -> (Option<i32>, String, String) {
    let out = run_rdbkit(args);
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn usage_errors_exit_1_as_the_table_says() {
    let cases: &[&[&str]] = &[
        &["--no-such-flag"],
        &["no-such-subcommand"],
        &[],
        &["check"],
        &["check", "--no-such-flag", "x.rdb"],
        &["dump", "--format", "yaml", "x.rdb"],
        &["check", "--threads", "many", "x.rdb"],
        &["aof"],
        &["aof", "check"],
        &["aof", "fix", "--truncate-to-timestamp", "soon", "x.aof"],
        &["split", "x.rdb"],
        &["merge", "--on-duplicate", "both", "a.rdb", "-o", "b.rdb"],
    ];
    for args in cases {
        let (code, stdout, stderr) = run(args);
        assert_eq!(code, Some(1), "rdbkit {args:?}: {stderr}");
        // clap's message, on standard error; nothing on standard output.
        assert!(
            stderr.contains("error:") || stderr.contains("Usage:"),
            "rdbkit {args:?}: {stderr}"
        );
        assert!(stdout.is_empty(), "rdbkit {args:?}: {stdout}");
    }
}

#[test]
fn a_usage_error_of_diff_is_its_error_status_2() {
    // `diff` exits 1 when the files differ: its errors are 2, its usage errors included.
    let (code, _, stderr) = run(&["diff", "--no-such-flag", "a.rdb", "b.rdb"]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("error:"), "{stderr}");
}

#[test]
fn help_and_version_exit_0_on_standard_output() {
    for args in [
        &["--help"][..],
        &["-h"],
        &["check", "--help"],
        &["aof", "check", "--help"],
        &["help", "dump"],
    ] {
        let (code, stdout, stderr) = run(args);
        assert_eq!(code, Some(0), "rdbkit {args:?}: {stderr}");
        assert!(stdout.contains("Usage:"), "rdbkit {args:?}: {stdout}");
    }
    let (code, stdout, stderr) = run(&["--version"]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        stdout.starts_with(&format!("rdbkit {}", env!("CARGO_PKG_VERSION"))),
        "{stdout}"
    );
}
