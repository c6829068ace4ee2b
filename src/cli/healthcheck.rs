//! `stance healthcheck`: exit 0 if the local service answers `/healthz`, for container
//! HEALTHCHECKs that have no curl.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::Args;

use super::serve::{listen_address, probe_address};

#[derive(Args)]
pub struct HealthcheckArgs {
    /// The service's listen address; 0.0.0.0 is checked on 127.0.0.1. Parsed as `serve` parses
    /// it, so a value `serve` refuses as a usage error is one here too (exit 2), not a failed
    /// check (exit 1) a container would read as "unhealthy".
    #[arg(long, env = "STANCE_BIND", default_value = "127.0.0.1:8080", value_parser = listen_address)]
    pub bind: String,
    /// The service's probe address (`stance serve --probe-bind`); when set, it is checked
    /// instead of --bind.
    #[arg(long, env = "STANCE_PROBE_BIND", value_parser = probe_address)]
    pub probe_bind: Option<String>,
    /// Seconds to wait for the answer (at least 1: a zero timeout cannot be given to a socket).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u64).range(1..))]
    pub timeout: u64,
}

pub fn run(a: HealthcheckArgs) -> Result<()> {
    let bind = a
        .probe_bind
        .filter(|b| !b.is_empty())
        .unwrap_or(a.bind)
        .replace("0.0.0.0", "127.0.0.1")
        .replace("[::]", "[::1]");
    let addr = bind
        .to_socket_addrs()
        .with_context(|| format!("invalid address {bind}"))?
        .next()
        .with_context(|| format!("no address for {bind}"))?;
    let timeout = Duration::from_secs(a.timeout);
    let mut stream = TcpStream::connect_timeout(&addr, timeout)
        .with_context(|| format!("cannot connect to {addr}"))?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    write!(stream, "GET /healthz HTTP/1.0\r\nHost: {bind}\r\n\r\n")?;
    let mut response = String::new();
    stream.take(4096).read_to_string(&mut response)?;
    let status = response.lines().next().unwrap_or("");
    if status.split_whitespace().nth(1) == Some("200") {
        Ok(())
    } else {
        bail!("unhealthy: {addr} answered {status:?}")
    }
}
