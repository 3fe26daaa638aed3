//! The operator's policy (`--outbound-allow 10.0.0.0/8,::1/128`, `--outbound-deny 203.0.113.0/24`) and
//! the checks every destination goes through: an IP-literal URL before sending, each resolved address
//! of a host name before connecting.

use std::{
    fmt,
    net::{IpAddr, SocketAddr},
    str::FromStr,
};

use ipnet::IpNet;
use url::{Host, Url};

use crate::range::{Range, classify};

/// Why an address is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// Not a public address, and not allowed.
    Range(Range),
    /// In a network the operator denies (`--outbound-deny`).
    Denied,
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Range(range) => range.fmt(f),
            Self::Denied => f.write_str("in a denied network"),
        }
    }
}

/// Why a destination is not called.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    /// The URL names a refused address.
    #[error("destination refused: {ip} is {reason}")]
    Address { ip: IpAddr, reason: Reason },
    /// Every address the host name resolves to is refused (one of them is named).
    #[error("destination refused: {host} resolves only to refused addresses ({ip} is {reason})")]
    Name {
        host: String,
        ip: IpAddr,
        reason: Reason,
    },
    #[error("destination refused: {0}: URLs are not called (http and https only)")]
    Scheme(String),
    #[error("destination refused: the URL names no host")]
    NoHost,
}

/// A list of networks, as a flag gives it (`127.0.0.0/8,::1/128`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Networks(Vec<IpNet>);

/// A list entry that is neither a network nor an address.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a network (CIDR such as 10.0.0.0/8 or fd00::/8) nor an IP address")]
pub struct InvalidNetworks(String);

impl FromStr for Networks {
    type Err = InvalidNetworks;

    /// Networks and addresses separated by commas or spaces; an address stands for itself alone
    /// (/32 or /128). The empty string is the empty list.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.split([',', ' ', '\t', '\n'])
            .map(str::trim)
            .filter(|item| !item.is_empty())
            .map(|item| {
                item.parse::<IpNet>()
                    .or_else(|_| item.parse::<IpAddr>().map(IpNet::from))
                    .map(|net| net.trunc())
                    .map_err(|_| InvalidNetworks(item.to_string()))
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Self)
    }
}

/// Comma-separated, each network in its canonical form: what `from_str` reads back.
impl fmt::Display for Networks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, net) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{net}")?;
        }
        Ok(())
    }
}

impl Networks {
    pub fn new(networks: impl IntoIterator<Item = IpNet>) -> Self {
        Self(networks.into_iter().map(|n| n.trunc()).collect())
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn networks(&self) -> &[IpNet] {
        &self.0
    }

    /// True when `ip` is in one of the networks (an IPv4-mapped IPv6 address as its IPv4 one too).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let canonical = ip.to_canonical();
        self.0
            .iter()
            .any(|net| net.contains(&ip) || net.contains(&canonical))
    }
}

/// Where outbound requests may go: public addresses, and the `allow` networks although they are not
/// public; never the `deny` networks, which win over both. The default refuses every range of
/// [`Range`] and allows every public address.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Policy {
    allow: Networks,
    deny: Networks,
}

impl Policy {
    pub fn new(allow: Networks, deny: Networks) -> Self {
        Self { allow, deny }
    }

    /// The default ranges refused, `allow` let through.
    pub fn allowing(allow: Networks) -> Self {
        Self::new(allow, Networks::default())
    }

    pub fn allow(&self) -> &Networks {
        &self.allow
    }

    pub fn deny(&self) -> &Networks {
        &self.deny
    }

    /// May a request connect to `ip`?
    pub fn check_ip(&self, ip: IpAddr) -> Result<(), Refused> {
        if self.deny.contains(ip) {
            return Err(Refused::Address {
                ip,
                reason: Reason::Denied,
            });
        }
        match classify(ip) {
            Some(range) if !self.allow.contains(ip) => Err(Refused::Address {
                ip,
                reason: Reason::Range(range),
            }),
            _ => Ok(()),
        }
    }

    /// The check before sending: http(s) only, with a host, and an IP-literal host (which the HTTP
    /// client connects to without resolving it) must pass [`Policy::check_ip`]. A host name passes
    /// here: its addresses are checked when it is resolved for the connection.
    ///
    /// The URL parser has normalised every IPv4 spelling already: `http://2130706433/`,
    /// `http://0x7f.1/` and `http://0177.0.0.1/` all name `127.0.0.1`.
    pub fn check_url(&self, url: &Url) -> Result<(), Refused> {
        if !matches!(url.scheme(), "http" | "https") {
            return Err(Refused::Scheme(url.scheme().to_string()));
        }
        match url.host() {
            None => Err(Refused::NoHost),
            Some(Host::Domain(_)) => Ok(()),
            Some(Host::Ipv4(ip)) => self.check_ip(ip.into()),
            Some(Host::Ipv6(ip)) => self.check_ip(ip.into()),
        }
    }

    /// The addresses `host` resolved to that may be connected to; refused when some were dropped and
    /// none is left. An empty input stays empty (the caller reports that the name has no address).
    pub fn filter(
        &self,
        host: &str,
        resolved: impl IntoIterator<Item = SocketAddr>,
    ) -> Result<Vec<SocketAddr>, Refused> {
        let mut kept = Vec::new();
        let mut first_refused = None;
        for addr in resolved {
            match self.check_ip(addr.ip()) {
                Ok(()) => kept.push(addr),
                Err(Refused::Address { ip, reason }) => {
                    first_refused.get_or_insert((ip, reason));
                }
                Err(_) => {}
            }
        }
        match first_refused {
            Some((ip, reason)) if kept.is_empty() => Err(Refused::Name {
                host: host.to_string(),
                ip,
                reason,
            }),
            _ => Ok(kept),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    fn refused_range(r: Result<(), Refused>) -> Option<Range> {
        match r {
            Err(Refused::Address {
                reason: Reason::Range(range),
                ..
            }) => Some(range),
            Err(other) => panic!("unexpected refusal {other}"),
            Ok(()) => None,
        }
    }

    fn allowing(list: &str) -> Policy {
        Policy::allowing(list.parse().unwrap())
    }

    #[test]
    fn parses_networks_and_addresses_and_prints_them_back() {
        let list: Networks = "127.0.0.0/8, ::1/128 10.1.2.3/16,192.168.5.5"
            .parse()
            .unwrap();
        assert_eq!(
            list.to_string(),
            "127.0.0.0/8,::1/128,10.1.0.0/16,192.168.5.5/32"
        );
        assert_eq!(list.to_string().parse::<Networks>().unwrap(), list);
        assert!("".parse::<Networks>().unwrap().is_empty());
        assert!(" , ".parse::<Networks>().unwrap().is_empty());
        let err = "10.0.0.0/8,localhost".parse::<Networks>().unwrap_err();
        assert!(err.to_string().contains("`localhost`"), "{err}");
        assert!("10.0.0.0/33".parse::<Networks>().is_err());
    }

    #[test]
    fn denied_by_default_and_allowed_by_the_list() {
        let none = Policy::default();
        let loopback = allowing("127.0.0.0/8");
        for ip in ["127.0.0.1", "::ffff:127.0.0.1"] {
            let ip: IpAddr = ip.parse().unwrap();
            assert_eq!(refused_range(none.check_ip(ip)), Some(Range::Loopback));
            assert_eq!(refused_range(loopback.check_ip(ip)), None, "{ip}");
        }
        // The list allows what it names, nothing more.
        let ip: IpAddr = "::1".parse().unwrap();
        assert_eq!(refused_range(loopback.check_ip(ip)), Some(Range::Loopback));
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        assert_eq!(refused_range(loopback.check_ip(ip)), Some(Range::Private));
        assert_eq!(none.check_ip("8.8.8.8".parse().unwrap()), Ok(()));
    }

    #[test]
    fn denied_networks_win_over_everything() {
        let policy = Policy::new(
            "127.0.0.0/8".parse().unwrap(),
            "0.0.0.0/0,::/0".parse().unwrap(),
        );
        for ip in ["8.8.8.8", "127.0.0.1", "::ffff:8.8.8.8", "2606:4700::1"] {
            let ip: IpAddr = ip.parse().unwrap();
            assert_eq!(
                policy.check_ip(ip),
                Err(Refused::Address {
                    ip,
                    reason: Reason::Denied
                })
            );
        }
        let some = Policy::new(
            Networks::default(),
            "203.0.113.0/24,8.8.8.8".parse().unwrap(),
        );
        assert!(some.check_ip("8.8.4.4".parse().unwrap()).is_ok());
        let refused = some.check_ip("8.8.8.8".parse().unwrap()).unwrap_err();
        assert_eq!(
            refused.to_string(),
            "destination refused: 8.8.8.8 is in a denied network"
        );
    }

    #[test]
    fn ip_literal_urls_in_every_spelling_are_checked() {
        let none = Policy::default();
        for (u, range) in [
            ("http://127.0.0.1:8080/hook", Range::Loopback),
            ("http://[::1]/", Range::Loopback),
            ("http://[::ffff:127.0.0.1]/", Range::Loopback),
            ("http://0.0.0.0/", Range::Unspecified),
            ("http://0/", Range::Unspecified),
            // Decimal, hexadecimal, octal and short forms are normalised by the URL parser.
            ("http://2130706433/", Range::Loopback),
            ("http://0x7f000001/", Range::Loopback),
            ("http://0177.0.0.1/", Range::Loopback),
            ("http://127.1/", Range::Loopback),
            ("http://127.0.0.1./", Range::Loopback),
            ("HTTP://[0:0:0:0:0:0:0:1]/", Range::Loopback),
            (
                "https://169.254.169.254/latest/meta-data/",
                Range::LinkLocal,
            ),
            ("http://[fe80::1%25eth0]/", Range::LinkLocal),
            ("http://10.0.0.1/", Range::Private),
            ("http://[fd00::1]/", Range::Private),
        ] {
            let Ok(parsed) = Url::parse(u) else {
                // Zone ids are not URL syntax: such a URL never reaches a client.
                assert!(u.contains('%'), "{u} should parse");
                continue;
            };
            assert_eq!(refused_range(none.check_url(&parsed)), Some(range), "{u}");
        }
        assert_eq!(url("http://2130706433/").host_str(), Some("127.0.0.1"));
        assert_eq!(none.check_url(&url("https://example.com/hook")), Ok(()));
        assert_eq!(none.check_url(&url("http://8.8.8.8/")), Ok(()));
        assert_eq!(
            none.check_url(&url("ftp://example.com/")),
            Err(Refused::Scheme("ftp".into()))
        );
        assert_eq!(
            none.check_url(&url("file:///etc/passwd")),
            Err(Refused::Scheme("file".into()))
        );
        let refused = none.check_url(&url("http://127.0.0.1/")).unwrap_err();
        assert_eq!(
            refused.to_string(),
            "destination refused: 127.0.0.1 is a loopback address"
        );
    }

    #[test]
    fn resolved_addresses_are_filtered() {
        let none = Policy::default();
        let addr = |s: &str| s.parse::<SocketAddr>().unwrap();
        // Only refused addresses: refused, naming the host.
        let err = none
            .filter("localhost", [addr("127.0.0.1:0"), addr("[::1]:0")])
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "destination refused: localhost resolves only to refused addresses (127.0.0.1 is a loopback address)"
        );
        // A mix keeps the public ones only, so the connection goes to one of them.
        assert_eq!(
            none.filter(
                "mixed.example",
                [
                    addr("10.0.0.1:0"),
                    addr("93.184.216.34:0"),
                    addr("[::ffff:127.0.0.1]:0"),
                ]
            )
            .unwrap(),
            [addr("93.184.216.34:0")]
        );
        // The allowlist lets its networks through.
        let allow = allowing("::1/128");
        assert_eq!(
            allow
                .filter("localhost", [addr("127.0.0.1:0"), addr("[::1]:0")])
                .unwrap(),
            [addr("[::1]:0")]
        );
        assert_eq!(none.filter("nothing", []).unwrap(), []);
    }
}
