//! `rdbkit aof check -` reads a stream in memory that does not grow with it: a 320 MB AOF
//! (small commands, a MULTI/EXEC, annotations and 4 MiB values) is generated here and written
//! through a pipe, and the child's peak resident memory (`VmHWM` in `/proc/PID/status`, read
//! when every byte but the pipe's buffer has been taken) stays under 96 MiB — before, the
//! stream was copied to a temporary file and mapped, and the peak was the stream's size. The
//! verdict is checked too: valid, the size and the command count exact.

#![cfg(target_os = "linux")]

mod common;

use std::io::Write;
use std::process::{Command, Stdio};

use common::{fed_child_peak, rdbkit_bin};

fn set(out: &mut Vec<u8>, key: &[u8], value: &[u8]) {
    write!(out, "*3\r\n$3\r\nSET\r\n${}\r\n", key.len()).unwrap();
    out.extend_from_slice(key);
    write!(out, "\r\n${}\r\n", value.len()).unwrap();
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

#[test]
fn aof_check_of_a_pipe_holds_a_bounded_window_not_the_stream() {
    const TOTAL: u64 = 320 << 20;
    let mut child = Command::new(rdbkit_bin())
        .args(["aof", "check", "-", "--json"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let big = vec![b'v'; 4 << 20];
    let (mut written, mut commands, mut i) = (0u64, 0u64, 0u64);
    let mut block = Vec::with_capacity(8 << 20);
    while written < TOTAL {
        block.clear();
        write!(block, "#TS:{}\r\n", 1_700_000_000 + i).unwrap();
        block.extend_from_slice(b"*1\r\n$5\r\nMULTI\r\n");
        for k in 0..20_000u64 {
            set(
                &mut block,
                format!("key:{i}:{k}").as_bytes(),
                b"a-small-value",
            );
        }
        block.extend_from_slice(b"*1\r\n$4\r\nEXEC\r\n");
        set(&mut block, format!("big:{i}").as_bytes(), &big);
        commands += 20_003;
        i += 1;
        stdin.write_all(&block).unwrap();
        written += block.len() as u64;
    }
    let (hwm, out) = fed_child_peak(child, stdin);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let v: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    let text = v.to_string();
    assert!(text.contains(&format!("\"size\":{written}")), "{text}");
    assert!(text.contains(&format!("\"commands\":{commands}")), "{text}");
    assert!(
        hwm < 96 << 10,
        "peak RSS {hwm} KiB while checking a {} MiB stream",
        written >> 20
    );
}
