//! `eye healthcheck`: asks a running node's `/healthz` over plain HTTP and exits 0 when it
//! answers 200, so container health checks need no curl in the image.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use anyhow::Context;

use crate::cli::HealthcheckArgs;

pub fn run(args: HealthcheckArgs) -> anyhow::Result<()> {
    let target = Target::parse(&args.addr, args.path.as_deref())?;
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
    /// `--addr` as `host:port`, or as a URL `http://host[:port][/path]`; the path is the
    /// URL's or `--path` (not both, unless they agree), `/healthz` when neither says.
    fn parse(addr: &str, path: Option<&str>) -> anyhow::Result<Target> {
        let (authority, url_path) = match addr.split_once("://") {
            None => (addr.to_owned(), None),
            Some((scheme, rest)) => {
                anyhow::ensure!(
                    scheme.eq_ignore_ascii_case("http"),
                    "--addr {addr}: the health check speaks plain HTTP; give http://host:port or host:port"
                );
                let rest = rest.split(['?', '#']).next().unwrap_or(rest);
                let (authority, url_path) = match rest.find('/') {
                    Some(at) => rest.split_at(at),
                    None => (rest, ""),
                };
                anyhow::ensure!(
                    !authority.contains('@'),
                    "--addr {addr}: no credentials in the address; the health check needs none"
                );
                anyhow::ensure!(!authority.is_empty(), "--addr {addr} names no host");
                let has_port = authority
                    .rsplit_once(':')
                    .is_some_and(|(_, port)| port.parse::<u16>().is_ok());
                let authority = if has_port {
                    authority.to_owned()
                } else {
                    format!("{authority}:80")
                };
                (
                    authority,
                    Some(url_path).filter(|p| !p.is_empty() && *p != "/"),
                )
            }
        };
        let path = match (url_path, path) {
            (Some(from_url), Some(given)) if from_url != given => anyhow::bail!(
                "--addr asks for {from_url} and --path for {given}: give the path once"
            ),
            (Some(from_url), _) => from_url.to_owned(),
            (None, Some(given)) => given.to_owned(),
            (None, None) => "/healthz".to_owned(),
        };
        let path = if path.starts_with('/') {
            path
        } else {
            format!("/{path}")
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
        let parse = |addr| Target::parse(addr, None).expect("parses");
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
        assert!(Target::parse("https://eye:8443", None).is_err());
        assert_eq!(
            parse("http://127.0.0.1:9?x=1"),
            target("127.0.0.1:9", "/healthz")
        );
        assert!(Target::parse("http://user:pw@127.0.0.1:9", None).is_err());
    }

    #[test]
    fn the_path_is_said_once_and_starts_with_a_slash() {
        let with = |addr, path| Target::parse(addr, Some(path));
        assert!(with("http://h:9/readyz", "/nope").is_err(), "two paths");
        assert_eq!(
            with("http://h:9/readyz", "/readyz").expect("same").path,
            "/readyz"
        );
        assert_eq!(with("h:9", "readyz").expect("slash added").path, "/readyz");
    }
}
