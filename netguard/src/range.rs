//! Which addresses are not the public internet: loopback, unspecified, link-local (cloud metadata lives at
//! 169.254.169.254), private, shared (CGNAT), multicast, broadcast, documentation, benchmarking and
//! reserved ranges, in IPv4 and IPv6, IPv6 forms that carry an IPv4 address (mapped, NAT64, 6to4) judged
//! by the address they carry.

use std::{
    fmt,
    net::{IpAddr, Ipv4Addr, Ipv6Addr},
};

use ipnet::{Ipv4Net, Ipv6Net};

/// Why an address is not a public destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Range {
    Unspecified,
    Loopback,
    LinkLocal,
    Private,
    /// 100.64.0.0/10, carrier-grade NAT.
    Shared,
    Multicast,
    Broadcast,
    Documentation,
    Benchmarking,
    Reserved,
}

impl Range {
    /// "a loopback address", as in "127.0.0.1 is a loopback address".
    pub fn describe(self) -> &'static str {
        match self {
            Self::Unspecified => "an unspecified address",
            Self::Loopback => "a loopback address",
            Self::LinkLocal => "a link-local address",
            Self::Private => "a private address",
            Self::Shared => "a shared (carrier-grade NAT) address",
            Self::Multicast => "a multicast address",
            Self::Broadcast => "the broadcast address",
            Self::Documentation => "a documentation address",
            Self::Benchmarking => "a benchmarking address",
            Self::Reserved => "a reserved address",
        }
    }
}

impl fmt::Display for Range {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.describe())
    }
}

const fn v4(a: u8, b: u8, c: u8, d: u8, len: u8) -> Ipv4Net {
    Ipv4Net::new_assert(Ipv4Addr::new(a, b, c, d), len)
}

#[allow(clippy::too_many_arguments)]
const fn v6(a: u16, b: u16, c: u16, d: u16, e: u16, f: u16, g: u16, h: u16, len: u8) -> Ipv6Net {
    Ipv6Net::new_assert(Ipv6Addr::new(a, b, c, d, e, f, g, h), len)
}

/// The IPv4 ranges, the first match wins (the broadcast address before the rest of 240.0.0.0/4).
const V4: [(Ipv4Net, Range); 16] = [
    // "This network": 0.0.0.0 reaches the local host on Linux.
    (v4(0, 0, 0, 0, 8), Range::Unspecified),
    (v4(10, 0, 0, 0, 8), Range::Private),
    (v4(100, 64, 0, 0, 10), Range::Shared),
    (v4(127, 0, 0, 0, 8), Range::Loopback),
    (v4(169, 254, 0, 0, 16), Range::LinkLocal),
    (v4(172, 16, 0, 0, 12), Range::Private),
    (v4(192, 0, 0, 0, 24), Range::Reserved),
    (v4(192, 0, 2, 0, 24), Range::Documentation),
    (v4(192, 88, 99, 0, 24), Range::Reserved),
    (v4(192, 168, 0, 0, 16), Range::Private),
    (v4(198, 18, 0, 0, 15), Range::Benchmarking),
    (v4(198, 51, 100, 0, 24), Range::Documentation),
    (v4(203, 0, 113, 0, 24), Range::Documentation),
    (v4(224, 0, 0, 0, 4), Range::Multicast),
    (v4(255, 255, 255, 255, 32), Range::Broadcast),
    (v4(240, 0, 0, 0, 4), Range::Reserved),
];

/// The IPv6 ranges that are not judged by an IPv4 address they carry; anything outside global unicast
/// (2000::/3) is reserved too.
const V6: [(Ipv6Net, Range); 12] = [
    (v6(0, 0, 0, 0, 0, 0, 0, 0, 128), Range::Unspecified),
    (v6(0, 0, 0, 0, 0, 0, 0, 1, 128), Range::Loopback),
    // Local-use NAT64 (RFC 8215) translates to whatever the operator's network holds.
    (v6(0x64, 0xff9b, 1, 0, 0, 0, 0, 0, 48), Range::Private),
    (v6(0x100, 0, 0, 0, 0, 0, 0, 0, 64), Range::Reserved),
    (v6(0x2001, 2, 0, 0, 0, 0, 0, 0, 48), Range::Benchmarking),
    // Teredo tunnels to an obfuscated IPv4 address.
    (v6(0x2001, 0, 0, 0, 0, 0, 0, 0, 32), Range::Reserved),
    (
        v6(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0, 32),
        Range::Documentation,
    ),
    (v6(0x3fff, 0, 0, 0, 0, 0, 0, 0, 20), Range::Documentation),
    (v6(0xfc00, 0, 0, 0, 0, 0, 0, 0, 7), Range::Private),
    (v6(0xfe80, 0, 0, 0, 0, 0, 0, 0, 10), Range::LinkLocal),
    // Site-local, deprecated but still routed inside some networks.
    (v6(0xfec0, 0, 0, 0, 0, 0, 0, 0, 10), Range::Private),
    (v6(0xff00, 0, 0, 0, 0, 0, 0, 0, 8), Range::Multicast),
];

const GLOBAL_UNICAST: Ipv6Net = v6(0x2000, 0, 0, 0, 0, 0, 0, 0, 3);
const NAT64: Ipv6Net = v6(0x64, 0xff9b, 0, 0, 0, 0, 0, 0, 96);
const SIX_TO_FOUR: Ipv6Net = v6(0x2002, 0, 0, 0, 0, 0, 0, 0, 16);
/// `::a.b.c.d`, IPv4-compatible (deprecated); `::` and `::1` are matched before.
const V4_COMPATIBLE: Ipv6Net = v6(0, 0, 0, 0, 0, 0, 0, 0, 96);

/// The range `ip` belongs to, or `None` for a public address.
pub fn classify(ip: IpAddr) -> Option<Range> {
    // `::ffff:a.b.c.d` is the IPv4 address a.b.c.d on a dual-stack socket.
    match ip.to_canonical() {
        IpAddr::V4(ip) => classify_v4(ip),
        IpAddr::V6(ip) => classify_v6(ip),
    }
}

fn classify_v4(ip: Ipv4Addr) -> Option<Range> {
    V4.iter()
        .find(|(net, _)| net.contains(&ip))
        .map(|(_, range)| *range)
}

fn classify_v6(ip: Ipv6Addr) -> Option<Range> {
    if let Some((_, range)) = V6.iter().find(|(net, _)| net.contains(&ip)) {
        return Some(*range);
    }
    let bits = ip.to_bits();
    // Forms that carry an IPv4 address reach it: judged by it.
    let last_32 = Ipv4Addr::from_bits(bits as u32);
    if V4_COMPATIBLE.contains(&ip) {
        return Some(classify_v4(last_32).unwrap_or(Range::Reserved));
    }
    if NAT64.contains(&ip) {
        return classify_v4(last_32);
    }
    if SIX_TO_FOUR.contains(&ip) {
        return classify_v4(Ipv4Addr::from_bits((bits >> 80) as u32));
    }
    (!GLOBAL_UNICAST.contains(&ip)).then_some(Range::Reserved)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn of(ip: &str) -> Option<Range> {
        classify(ip.parse().unwrap())
    }

    #[test]
    fn ipv4_ranges() {
        for (ip, range) in [
            ("127.0.0.1", Range::Loopback),
            ("127.255.255.254", Range::Loopback),
            ("0.0.0.0", Range::Unspecified),
            ("0.1.2.3", Range::Unspecified),
            ("10.1.2.3", Range::Private),
            ("172.16.0.1", Range::Private),
            ("172.31.255.255", Range::Private),
            ("192.168.1.1", Range::Private),
            ("169.254.169.254", Range::LinkLocal),
            ("100.64.0.1", Range::Shared),
            ("100.127.255.255", Range::Shared),
            ("224.0.0.1", Range::Multicast),
            ("239.255.255.250", Range::Multicast),
            ("255.255.255.255", Range::Broadcast),
            ("240.0.0.1", Range::Reserved),
            ("192.0.2.10", Range::Documentation),
            ("198.51.100.7", Range::Documentation),
            ("203.0.113.9", Range::Documentation),
            ("198.18.0.1", Range::Benchmarking),
            ("192.0.0.8", Range::Reserved),
        ] {
            assert_eq!(of(ip), Some(range), "{ip}");
        }
        for ip in [
            "1.1.1.1",
            "8.8.8.8",
            "172.15.255.255",
            "172.32.0.0",
            "100.63.255.255",
            "100.128.0.0",
            "169.253.255.255",
            "93.184.216.34",
        ] {
            assert_eq!(of(ip), None, "{ip}");
        }
    }

    #[test]
    fn ipv6_ranges() {
        for (ip, range) in [
            ("::1", Range::Loopback),
            ("::", Range::Unspecified),
            ("fe80::1", Range::LinkLocal),
            ("febf::1", Range::LinkLocal),
            ("fc00::1", Range::Private),
            ("fd00:ec2::254", Range::Private),
            ("fec0::1", Range::Private),
            ("ff02::1", Range::Multicast),
            ("2001:db8::1", Range::Documentation),
            ("3fff::1", Range::Documentation),
            ("100::1", Range::Reserved),
            ("2001::1", Range::Reserved),
            ("2001:2::1", Range::Benchmarking),
            ("64:ff9b:1::1", Range::Private),
            // Outside global unicast.
            ("4000::1", Range::Reserved),
            ("1::1", Range::Reserved),
        ] {
            assert_eq!(of(ip), Some(range), "{ip}");
        }
        for ip in ["2606:4700:4700::1111", "2a00:1450:4001::200e"] {
            assert_eq!(of(ip), None, "{ip}");
        }
    }

    #[test]
    fn ipv6_forms_of_ipv4_addresses_are_judged_by_the_ipv4_address() {
        for (ip, range) in [
            ("::ffff:127.0.0.1", Range::Loopback),
            ("::ffff:7f00:1", Range::Loopback),
            ("::ffff:10.0.0.1", Range::Private),
            ("::ffff:169.254.169.254", Range::LinkLocal),
            ("::ffff:0.0.0.0", Range::Unspecified),
            ("::ffff:192.168.0.1", Range::Private),
            ("64:ff9b::127.0.0.1", Range::Loopback),
            ("64:ff9b::a9fe:a9fe", Range::LinkLocal),
            ("2002:7f00:1::1", Range::Loopback),
            ("2002:c0a8:0101::", Range::Private),
            ("::127.0.0.1", Range::Loopback),
            // IPv4-compatible forms of public addresses are deprecated: reserved.
            ("::8.8.8.8", Range::Reserved),
        ] {
            assert_eq!(of(ip), Some(range), "{ip}");
        }
        for ip in ["::ffff:8.8.8.8", "64:ff9b::8.8.8.8", "2002:0808:0808::1"] {
            assert_eq!(of(ip), None, "{ip}");
        }
    }
}
