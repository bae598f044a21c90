import ipaddr from 'ipaddr.js';

/** Global unicast IPv6 (2000::/3): everything else is local, special, or a transition form. */
const GLOBAL_UNICAST_V6 = ipaddr.IPv6.parseCIDR('2000::/3');

/**
 * What kind of address `address` (an IP address, as text) is when webhooks may not be sent to it
 * (`loopback`, `private`, `link-local`…); null when it is a public unicast address. Refused: private (10/8, 172.16/12, 192.168/16), loopback, link-local (which
 * holds the cloud metadata address 169.254.169.254), carrier-grade NAT (100.64/10, Alibaba's
 * metadata 100.100.100.200), multicast, broadcast, unspecified, reserved and documentation
 * ranges; in IPv6 everything outside global unicast 2000::/3 (unique-local fc00::/7 with AWS's
 * metadata fd00:ec2::254, link-local, loopback, NAT64, IPv4-compatible) and the transition forms
 * inside it (6to4, Teredo) that embed an IPv4 address. An IPv4-mapped address (::ffff:a.b.c.d)
 * is judged as the IPv4 address it maps. The ranges are ipaddr.js's.
 */
export function refusedAddressKind(address: string): string | null {
  let parsed: ipaddr.IPv4 | ipaddr.IPv6;
  try {
    parsed = ipaddr.parse(address.replace(/^\[|\]$/g, ''));
  } catch {
    return 'unparsable';
  }
  if (parsed.kind() === 'ipv6' && (parsed as ipaddr.IPv6).isIPv4MappedAddress()) {
    parsed = (parsed as ipaddr.IPv6).toIPv4Address();
  }
  const range = parsed.range();
  if (parsed.kind() === 'ipv4') {
    return range === 'unicast' ? null : describe(range);
  }
  if (range === 'unicast' && (parsed as ipaddr.IPv6).match(GLOBAL_UNICAST_V6)) return null;
  return describe(range === 'unicast' ? 'reserved' : range);
}

const RANGE_WORDS: Record<string, string> = {
  private: 'private', loopback: 'loopback', linkLocal: 'link-local', uniqueLocal: 'unique-local (private)',
  carrierGradeNat: 'carrier-grade NAT', multicast: 'multicast', broadcast: 'broadcast', unspecified: 'unspecified',
};

function describe(range: string): string {
  return RANGE_WORDS[range] ?? `special-purpose (${range})`;
}
