//! Peer addresses: `pubkey@host:port` node URIs, as Qtum's Eclair printed and accepted them.

use core::fmt;
use core::str::FromStr;

use bitcoin::secp256k1::PublicKey;
use lightning::ln::msgs::SocketAddress;

use crate::config::DEFAULT_LISTEN_PORT;

/// Why a node URI could not be read. Messages are written for people.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NodeUriError {
    /// Nothing was given.
    Empty,
    /// There is no `@` between the node id and the address.
    MissingAt,
    /// The node id is not 66 hex characters of a valid compressed public key.
    InvalidNodeId(String),
    /// Nothing after the `@`.
    MissingHost,
    /// The port is not a number between 1 and 65535.
    InvalidPort(String),
    /// An IPv6 address must be written in brackets, e.g. `[::1]:9735`.
    InvalidIpv6(String),
    /// The host name has characters a host name cannot have.
    InvalidHost(String),
}

impl fmt::Display for NodeUriError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NodeUriError::Empty => f.write_str("the node URI is empty; expected pubkey@host:port"),
            NodeUriError::MissingAt => {
                f.write_str("the node URI has no '@'; expected pubkey@host:port")
            }
            NodeUriError::InvalidNodeId(why) => write!(f, "the node id is not valid: {why}"),
            NodeUriError::MissingHost => f.write_str("the node URI has no host after '@'"),
            NodeUriError::InvalidPort(p) => {
                write!(f, "the port '{p}' is not a number between 1 and 65535")
            }
            NodeUriError::InvalidIpv6(h) => {
                write!(
                    f,
                    "the IPv6 address '{h}' must be written in brackets, like [::1]:9735"
                )
            }
            NodeUriError::InvalidHost(h) => write!(f, "'{h}' is not a valid host name"),
        }
    }
}

impl std::error::Error for NodeUriError {}

/// A peer's node id and network address.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct NodeUri {
    /// The peer's node id.
    pub node_id: PublicKey,
    /// Host: an IPv4 or IPv6 address or a host name.
    pub host: String,
    /// TCP port.
    pub port: u16,
}

impl NodeUri {
    /// `host:port` in a form `ToSocketAddrs` understands (IPv6 in brackets).
    pub fn host_port(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    /// The address as LDK's gossip and `init` messages carry it.
    pub fn socket_address(&self) -> Option<SocketAddress> {
        if let Ok(ip) = self.host.parse::<std::net::Ipv4Addr>() {
            return Some(SocketAddress::TcpIpV4 {
                addr: ip.octets(),
                port: self.port,
            });
        }
        if let Ok(ip) = self.host.parse::<std::net::Ipv6Addr>() {
            return Some(SocketAddress::TcpIpV6 {
                addr: ip.octets(),
                port: self.port,
            });
        }
        lightning::util::ser::Hostname::try_from(self.host.clone())
            .ok()
            .map(|hostname| SocketAddress::Hostname {
                hostname,
                port: self.port,
            })
    }
}

impl fmt::Display for NodeUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.node_id, self.host_port())
    }
}

fn parse_port(text: &str) -> Result<u16, NodeUriError> {
    match text.parse::<u16>() {
        Ok(0) | Err(_) => Err(NodeUriError::InvalidPort(text.to_string())),
        Ok(port) => Ok(port),
    }
}

fn valid_hostname(host: &str) -> bool {
    !host.is_empty()
        && host.len() <= 253
        && host.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

impl FromStr for NodeUri {
    type Err = NodeUriError;

    /// Parse `pubkey@host:port`, `pubkey@[ipv6]:port` or `pubkey@host` (port 9735).
    fn from_str(text: &str) -> Result<NodeUri, NodeUriError> {
        let text = text.trim();
        if text.is_empty() {
            return Err(NodeUriError::Empty);
        }
        let (id, address) = text.split_once('@').ok_or(NodeUriError::MissingAt)?;
        if id.len() != 66 || !id.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err(NodeUriError::InvalidNodeId(format!(
                "expected 66 hex characters, got {} characters",
                id.len()
            )));
        }
        let node_id =
            PublicKey::from_str(id).map_err(|e| NodeUriError::InvalidNodeId(e.to_string()))?;
        if address.is_empty() {
            return Err(NodeUriError::MissingHost);
        }
        let (host, port) = if let Some(rest) = address.strip_prefix('[') {
            let (ip, after) = rest
                .split_once(']')
                .ok_or_else(|| NodeUriError::InvalidIpv6(address.into()))?;
            if ip.parse::<std::net::Ipv6Addr>().is_err() {
                return Err(NodeUriError::InvalidIpv6(ip.into()));
            }
            let port = match after {
                "" => DEFAULT_LISTEN_PORT,
                p => parse_port(
                    p.strip_prefix(':')
                        .ok_or_else(|| NodeUriError::InvalidPort(p.into()))?,
                )?,
            };
            (ip.to_string(), port)
        } else if address.matches(':').count() > 1 {
            return Err(NodeUriError::InvalidIpv6(address.into()));
        } else {
            let (host, port) = match address.split_once(':') {
                Some((host, port)) => (host, parse_port(port)?),
                None => (address, DEFAULT_LISTEN_PORT),
            };
            if host.is_empty() {
                return Err(NodeUriError::MissingHost);
            }
            if host.parse::<std::net::Ipv4Addr>().is_err() && !valid_hostname(host) {
                return Err(NodeUriError::InvalidHost(host.into()));
            }
            (host.to_string(), port)
        };
        Ok(NodeUri {
            node_id,
            host,
            port,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "03e7156ae33b0a208d0744199163177e909e80176e55d97a2f221ede0f934dd9ad";

    #[test]
    fn parses_every_form() {
        let v4: NodeUri = format!("{ID}@127.0.0.1:9736").parse().expect("ipv4");
        assert_eq!((v4.host.as_str(), v4.port), ("127.0.0.1", 9736));
        assert_eq!(v4.to_string(), format!("{ID}@127.0.0.1:9736"));
        let v6: NodeUri = format!("{ID}@[::1]:9735").parse().expect("ipv6");
        assert_eq!((v6.host.as_str(), v6.port), ("::1", 9735));
        assert_eq!(v6.host_port(), "[::1]:9735");
        let name: NodeUri = format!("{ID}@node.example.org:19735")
            .parse()
            .expect("name");
        assert_eq!(name.host, "node.example.org");
        assert!(matches!(
            name.socket_address(),
            Some(SocketAddress::Hostname { .. })
        ));
        let default_port: NodeUri = format!(" {ID}@localhost ").parse().expect("no port");
        assert_eq!(default_port.port, 9735);
    }

    #[test]
    fn every_malformed_part_has_its_error() {
        let cases = [
            (String::new(), NodeUriError::Empty),
            (format!("{ID}127.0.0.1:9735"), NodeUriError::MissingAt),
            (format!("{ID}@"), NodeUriError::MissingHost),
            (format!("{ID}@:9735"), NodeUriError::MissingHost),
            (
                format!("{ID}@127.0.0.1:0"),
                NodeUriError::InvalidPort("0".into()),
            ),
            (
                format!("{ID}@127.0.0.1:65536"),
                NodeUriError::InvalidPort("65536".into()),
            ),
            (
                format!("{ID}@127.0.0.1:abc"),
                NodeUriError::InvalidPort("abc".into()),
            ),
            (
                format!("{ID}@::1:9735"),
                NodeUriError::InvalidIpv6("::1:9735".into()),
            ),
            (
                format!("{ID}@[::g]:9735"),
                NodeUriError::InvalidIpv6("::g".into()),
            ),
            (
                format!("{ID}@bad_host!:9735"),
                NodeUriError::InvalidHost("bad_host!".into()),
            ),
        ];
        for (text, want) in cases {
            assert_eq!(text.parse::<NodeUri>().unwrap_err(), want, "{text}");
        }
        assert!(matches!(
            "02abc@127.0.0.1:1".parse::<NodeUri>(),
            Err(NodeUriError::InvalidNodeId(_))
        ));
        // 66 hex characters that are not a point on the curve.
        let not_a_key = format!("04{}", "ff".repeat(32));
        assert!(matches!(
            format!("{not_a_key}@127.0.0.1:1").parse::<NodeUri>(),
            Err(NodeUriError::InvalidNodeId(_))
        ));
    }
}
