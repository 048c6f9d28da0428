//! What a webhook endpoint may be: its URL, and the addresses Roster may
//! connect to when it sends. The checks here are pure; resolving names and
//! checking the address actually connected to happen where the sending
//! does (`delivery`), with [`is_public`] as the rule.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::Invalid;

/// The longest URL accepted.
pub const MAX_URL: usize = 2000;
/// The longest description accepted.
pub const MAX_DESCRIPTION: usize = 500;

/// Where endpoints may be: whether plain `http` and private addresses are
/// allowed (`ROSTER_WEBHOOK_ALLOW_HTTP`, `ROSTER_WEBHOOK_ALLOW_PRIVATE`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AddressPolicy {
    pub allow_http: bool,
    pub allow_private: bool,
}

impl AddressPolicy {
    /// Whether Roster may connect to `ip`.
    pub fn allows(self, ip: IpAddr) -> bool {
        self.allow_private || is_public(ip)
    }
}

/// An endpoint URL: absolute, `https` (or `http` when allowed), with a
/// host, without credentials or a fragment, and, when its host is an
/// address, an allowed one. Names are checked when resolved.
pub fn parse_url(text: &str, policy: AddressPolicy) -> Result<url::Url, Invalid> {
    let text = text.trim();
    if text.is_empty() {
        return Err(Invalid::new("url must not be empty"));
    }
    if text.len() > MAX_URL {
        return Err(Invalid::new(format!(
            "url must be at most {MAX_URL} characters"
        )));
    }
    let url = url::Url::parse(text).map_err(|_| {
        Invalid::new("url must be an absolute URL such as https://example.com/hook")
    })?;
    match url.scheme() {
        "https" => {}
        "http" if policy.allow_http => {}
        "http" => {
            return Err(Invalid::new(
                "url must use https (plain http is not allowed on this server)",
            ));
        }
        _ => return Err(Invalid::new("url must use https")),
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(Invalid::new(
            "url must not carry credentials; the signature authenticates Roster",
        ));
    }
    if url.fragment().is_some() {
        return Err(Invalid::new("url must not have a #fragment"));
    }
    let address = match url.host() {
        None => return Err(Invalid::new("url must name a host")),
        Some(url::Host::Ipv4(ip)) => Some(IpAddr::V4(ip)),
        Some(url::Host::Ipv6(ip)) => Some(IpAddr::V6(ip)),
        Some(url::Host::Domain(name)) => {
            let name = name.trim_end_matches('.').to_ascii_lowercase();
            if !policy.allow_private && (name == "localhost" || name.ends_with(".localhost")) {
                return Err(not_allowed());
            }
            None
        }
    };
    if let Some(ip) = address
        && !policy.allows(ip)
    {
        return Err(not_allowed());
    }
    Ok(url)
}

/// The answer for a URL whose host is, or resolves to, an address that
/// is not allowed.
pub fn not_allowed() -> Invalid {
    Invalid::new(
        "url must point to a public address: loopback, private, link-local and \
         metadata addresses are not allowed on this server",
    )
}

/// Whether `ip` is an ordinary public address: not loopback, private,
/// link-local (where cloud metadata services live), shared, multicast,
/// reserved or for documentation. IPv6 addresses that embed an IPv4
/// address are judged by it.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || a == 0
        // Shared address space (carrier-grade NAT; some clouds' metadata).
        || (a == 100 && (64..128).contains(&b))
        // IETF protocol assignments.
        || (a == 192 && b == 0 && c == 0)
        // Benchmarking.
        || (a == 198 && (b == 18 || b == 19))
        // Reserved for future use.
        || a >= 240)
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return is_public_v4(v4);
    }
    let s = ip.segments();
    // NAT64 (64:ff9b::/96) carries an IPv4 address in its last 32 bits.
    if s[0] == 0x64 && s[1] == 0xff9b && s[2..6] == [0; 4] {
        let [.., hi, lo] = s;
        return is_public_v4(Ipv4Addr::from((u32::from(hi) << 16) | u32::from(lo)));
    }
    // Translators that may lead anywhere inside: local-use NAT64
    // (64:ff9b:1::/48), SIIT (::ffff:0:0:0/96) and Teredo (2001::/32).
    if (s[0] == 0x64 && s[1] == 0xff9b && s[2] == 1)
        || (s[..4] == [0; 4] && s[4] == 0xffff && s[5] == 0)
        || (s[0] == 0x2001 && s[1] == 0)
    {
        return false;
    }
    // 6to4 (2002::/16) carries one in bits 16 to 48.
    if s[0] == 0x2002 {
        return is_public_v4(Ipv4Addr::from((u32::from(s[1]) << 16) | u32::from(s[2])));
    }
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_multicast()
        // IPv4-compatible (deprecated) addresses, ::/96.
        || s[..6] == [0; 6]
        // Unique local (fc00::/7), where some clouds put metadata.
        || (s[0] & 0xfe00) == 0xfc00
        // Link-local (fe80::/10) and the old site-local (fec0::/10).
        || (s[0] & 0xffc0) == 0xfe80
        || (s[0] & 0xffc0) == 0xfec0
        // Documentation (2001:db8::/32).
        || (s[0] == 0x2001 && s[1] == 0x0db8))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn public(text: &str) -> bool {
        is_public(text.parse().unwrap())
    }

    #[test]
    fn private_and_special_addresses_are_not_public() {
        for ip in [
            "127.0.0.1",
            "127.1.2.3",
            "10.0.0.1",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "100.100.100.200",
            "0.0.0.0",
            "255.255.255.255",
            "224.0.0.1",
            "240.0.0.1",
            "192.0.2.1",
            "198.18.0.1",
            "::1",
            "::",
            "fe80::1",
            "fd00:ec2::254",
            "fc00::1",
            "ff02::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "64:ff9b::a9fe:a9fe",
            "2002:7f00:1::",
            "2001:db8::1",
            "::127.0.0.1",
            "64:ff9b:1::a9fe:a9fe",
            "::ffff:0:7f00:1",
            "2001::1",
        ] {
            assert!(!public(ip), "{ip} must not be public");
        }
        for ip in [
            "8.8.8.8",
            "1.1.1.1",
            "172.32.0.1",
            "100.128.0.1",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
        ] {
            assert!(public(ip), "{ip} is public");
        }
    }

    #[test]
    fn urls_follow_the_policy() {
        let strict = AddressPolicy::default();
        let open = AddressPolicy {
            allow_http: true,
            allow_private: true,
        };
        assert!(parse_url("https://hooks.example.com/roster?x=1", strict).is_ok());
        for bad in [
            "",
            "hooks.example.com",
            "http://hooks.example.com/",
            "ftp://hooks.example.com/",
            "https://user:pw@hooks.example.com/",
            "https://hooks.example.com/#frag",
            "https://127.0.0.1/",
            "https://[::1]:8443/",
            "https://localhost/",
            "https://169.254.169.254/latest/meta-data",
            "https://0x7f000001/",
        ] {
            assert!(parse_url(bad, strict).is_err(), "{bad} must be refused");
        }
        assert!(parse_url("http://127.0.0.1:9000/hook", open).is_ok());
        assert!(parse_url("http://localhost:9000/hook", open).is_ok());
    }
}
