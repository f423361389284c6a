//! TLS for `rdbkit restore`: `rediss://` URLs (or `--tls`) through the `redis` crate's rustls
//! support, with redis-cli's flag names: `--cacert`, `--cert`/`--key` (client certificate, for
//! `tls-auth-clients yes`), `--insecure`.

use std::path::{Path, PathBuf};

use redis::{ClientTlsConfig, ConnectionAddr, ConnectionInfo, TlsCertificates};

/// The TLS flags (named as redis-cli names them).
#[derive(clap::Args, Clone, Debug, Default)]
pub struct TlsArgs {
    /// Connect with TLS (as a rediss:// URL does).
    #[arg(long)]
    pub tls: bool,
    /// TLS: the CA certificate(s), PEM, that sign the server's certificate (default: the
    /// system's trust store).
    #[arg(long, value_name = "FILE")]
    pub cacert: Option<PathBuf>,
    /// TLS: a client certificate, PEM, for servers with `tls-auth-clients yes` (with --key).
    #[arg(long, value_name = "FILE", requires = "key")]
    pub cert: Option<PathBuf>,
    /// TLS: the client certificate's private key, PEM (with --cert).
    #[arg(long, value_name = "FILE", requires = "cert")]
    pub key: Option<PathBuf>,
    /// TLS: do not verify the server's certificate (encryption without authentication).
    #[arg(long)]
    pub insecure: bool,
}

impl TlsArgs {
    fn any_file(&self) -> bool {
        self.cacert.is_some() || self.cert.is_some()
    }
}

fn read_pem(flag: &str, p: &Path) -> Result<Vec<u8>, String> {
    std::fs::read(p).map_err(|e| format!("{flag} {}: {e}", p.display()))
}

/// Whether `info` connects with TLS.
pub fn is_tls(info: &ConnectionInfo) -> bool {
    matches!(info.addr(), ConnectionAddr::TcpTls { .. })
}

/// Applies the flags to a parsed URL: `--tls` turns a redis:// address into a TLS one,
/// `--insecure` skips certificate verification, `--cacert`/`--cert`/`--key` are read (a file that
/// cannot be read or parsed is named). TLS flags without TLS are refused.
pub fn apply(info: ConnectionInfo, a: &TlsArgs) -> Result<ConnectionInfo, String> {
    let mut info = info;
    if a.tls {
        if let ConnectionAddr::Tcp(host, port) = info.addr().clone() {
            info = info.set_addr(ConnectionAddr::TcpTls {
                host,
                port,
                insecure: false,
                tls_params: None,
            });
        }
    }
    if !is_tls(&info) {
        if a.any_file() || a.insecure {
            return Err(
                "--cacert/--cert/--key/--insecure need TLS: a rediss:// URL or --tls".to_string(),
            );
        }
        return Ok(info);
    }
    // rustls's crypto provider: the one compiled in (ring, see Cargo.toml), installed by the
    // first ClientConfig built.
    if a.any_file() {
        let root_cert = match &a.cacert {
            Some(p) => Some(read_pem("--cacert", p)?),
            None => None,
        };
        let client_tls = match (&a.cert, &a.key) {
            (Some(c), Some(k)) => Some(ClientTlsConfig {
                client_cert: read_pem("--cert", c)?,
                client_key: read_pem("--key", k)?,
            }),
            _ => None,
        };
        let client = redis::Client::build_with_tls(
            info,
            TlsCertificates {
                client_tls,
                root_cert,
            },
        )
        .map_err(|e| {
            format!(
                "TLS certificates ({}): {e}",
                [
                    a.cacert
                        .as_ref()
                        .map(|p| format!("--cacert {}", p.display())),
                    a.cert.as_ref().map(|p| format!("--cert {}", p.display())),
                    a.key.as_ref().map(|p| format!("--key {}", p.display())),
                ]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(", ")
            )
        })?;
        info = client.get_connection_info().clone();
    }
    if a.insecure {
        if let ConnectionAddr::TcpTls {
            host,
            port,
            tls_params,
            ..
        } = info.addr().clone()
        {
            info = info.set_addr(ConnectionAddr::TcpTls {
                host,
                port,
                insecure: true,
                tls_params,
            });
        }
    }
    Ok(info)
}

/// The address of another node of the same deployment (a cluster node named by CLUSTER SLOTS
/// or a redirection): TLS with the seed's certificates and verification when the seed is TLS.
pub fn node_addr(seed: &ConnectionAddr, host: &str, port: u16) -> ConnectionAddr {
    match seed {
        ConnectionAddr::TcpTls {
            insecure,
            tls_params,
            ..
        } => ConnectionAddr::TcpTls {
            host: host.to_string(),
            port,
            insecure: *insecure,
            tls_params: tls_params.clone(),
        },
        _ => ConnectionAddr::Tcp(host.to_string(), port),
    }
}
