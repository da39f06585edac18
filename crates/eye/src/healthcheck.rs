//! `eye healthcheck`: asks a running node's `/healthz` over plain HTTP and exits 0 when it
//! answers 200, so container health checks need no curl in the image.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use crate::cli::HealthcheckArgs;

pub fn run(args: HealthcheckArgs) -> anyhow::Result<()> {
    let address = args
        .addr
        .to_socket_addrs()?
        .next()
        .ok_or_else(|| anyhow::anyhow!("{} resolves to no address", args.addr))?;
    let mut stream = TcpStream::connect_timeout(&address, Duration::from_secs(3))?;
    stream.set_read_timeout(Some(Duration::from_secs(3)))?;
    write!(
        stream,
        "GET {} HTTP/1.0\r\nHost: {}\r\n\r\n",
        args.path, args.addr
    )?;
    let mut head = [0u8; 64];
    let read = stream.read(&mut head)?;
    let status_line = String::from_utf8_lossy(&head[..read]);
    anyhow::ensure!(
        status_line.split_whitespace().nth(1) == Some("200"),
        "unhealthy: {}",
        status_line.lines().next().unwrap_or("")
    );
    Ok(())
}
