//! `eye healthcheck`: asks a running node's `/healthz` over plain HTTP and exits 0 when it
//! answers 200, so container health checks need no curl in the image.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use anyhow::Context;

use crate::cli::HealthcheckArgs;

pub fn run(args: HealthcheckArgs) -> anyhow::Result<()> {
    let target = Target::parse(&args.addr, &args.path)?;
    let address = target
        .authority
        .to_socket_addrs()
        .with_context(|| format!("{} does not resolve", target.authority))?
        .next()
        .ok_or_else(|| anyhow::anyhow!("{} resolves to no address", target.authority))?;
    let mut stream = TcpStream::connect_timeout(&address, Duration::from_secs(3))
        .with_context(|| format!("cannot connect to {} ({address})", target.authority))?;
    stream.set_read_timeout(Some(Duration::from_secs(3)))?;
    write!(
        stream,
        "GET {} HTTP/1.0\r\nHost: {}\r\n\r\n",
        target.path, target.authority
    )?;
    let mut head = [0u8; 64];
    let read = stream
        .read(&mut head)
        .with_context(|| format!("no answer from {}", target.authority))?;
    let status_line = String::from_utf8_lossy(&head[..read]);
    anyhow::ensure!(
        status_line.split_whitespace().nth(1) == Some("200"),
        "unhealthy: {} answered {:?} to GET {}",
        target.authority,
        status_line.lines().next().unwrap_or(""),
        target.path
    );
    Ok(())
}

/// Where to ask: `host:port` and the path.
#[derive(Debug, PartialEq)]
struct Target {
    authority: String,
    path: String,
}

impl Target {
    /// `--addr` as `host:port`, or as a URL `http://host[:port][/path]` whose path, when it
    /// has one, replaces `--path`.
    fn parse(addr: &str, path: &str) -> anyhow::Result<Target> {
        let Some((scheme, rest)) = addr.split_once("://") else {
            return Ok(Target {
                authority: addr.to_owned(),
                path: path.to_owned(),
            });
        };
        anyhow::ensure!(
            scheme.eq_ignore_ascii_case("http"),
            "--addr {addr}: the health check speaks plain HTTP; give http://host:port or host:port"
        );
        let (authority, url_path) = match rest.find('/') {
            Some(at) => rest.split_at(at),
            None => (rest, ""),
        };
        anyhow::ensure!(!authority.is_empty(), "--addr {addr} names no host");
        let authority = if authority
            .rsplit_once(':')
            .is_some_and(|(_, port)| port.parse::<u16>().is_ok())
        {
            authority.to_owned()
        } else {
            format!("{authority}:80")
        };
        let path = if url_path.is_empty() || url_path == "/" {
            path.to_owned()
        } else {
            url_path.to_owned()
        };
        Ok(Target { authority, path })
    }
}

#[cfg(test)]
mod tests {
    use super::Target;

    fn target(authority: &str, path: &str) -> Target {
        Target {
            authority: authority.into(),
            path: path.into(),
        }
    }

    #[test]
    fn the_address_is_host_port_or_a_url() {
        let parse = |addr| Target::parse(addr, "/healthz").expect("parses");
        assert_eq!(
            parse("127.0.0.1:8000"),
            target("127.0.0.1:8000", "/healthz")
        );
        assert_eq!(
            parse("http://127.0.0.1:8000"),
            target("127.0.0.1:8000", "/healthz")
        );
        assert_eq!(
            parse("http://127.0.0.1:8000/"),
            target("127.0.0.1:8000", "/healthz")
        );
        assert_eq!(
            parse("http://localhost:9/readyz"),
            target("localhost:9", "/readyz")
        );
        assert_eq!(parse("http://eye"), target("eye:80", "/healthz"));
        assert!(Target::parse("https://eye:8443", "/healthz").is_err());
    }
}
