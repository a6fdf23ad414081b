import { isIPv4, isIPv6 } from 'node:net';

/**
 * IP allow-lists for listeners. Every address and range is placed in the IPv6 space, IPv4 as
 * ::ffff:a.b.c.d (prefix + 96), so a dual-stack socket that reports ::ffff:10.1.2.3 matches the
 * entry 10.0.0.0/8 with the same single comparison as a native IPv4 socket.
 */

const ALL_BITS = (1n << 128n) - 1n;
const V4_MAPPED_PREFIX = 0xffffn << 32n;

interface AddressRange {
  readonly network: bigint;
  readonly mask: bigint;
}

function parseIPv4(text: string): bigint {
  let value = 0n;
  for (const octet of text.split('.')) value = (value << 8n) | BigInt(Number(octet));
  return value;
}

/** Expects text that node:net already accepted as IPv6; the zone (%eth0) is ignored. */
function parseIPv6(text: string): bigint {
  const zone = text.indexOf('%');
  let s = zone >= 0 ? text.slice(0, zone) : text;
  let low32: bigint | null = null;
  const lastColon = s.lastIndexOf(':');
  if (s.indexOf('.', lastColon) > 0) {
    low32 = parseIPv4(s.slice(lastColon + 1));
    // Keep the colon so "::1.2.3.4" still reads as "::" followed by two groups.
    s = s.slice(0, lastColon + 1) + '0:0';
  }
  const gap = s.indexOf('::');
  const head = gap >= 0 ? s.slice(0, gap) : s;
  const tail = gap >= 0 ? s.slice(gap + 2) : '';
  const headGroups = head === '' ? [] : head.split(':');
  const tailGroups = tail === '' ? [] : tail.split(':');
  const zeros = 8 - headGroups.length - tailGroups.length;
  let value = 0n;
  for (const g of headGroups) value = (value << 16n) | BigInt(parseInt(g, 16));
  for (let i = 0; i < zeros; i++) value <<= 16n;
  for (const g of tailGroups) value = (value << 16n) | BigInt(parseInt(g, 16));
  if (low32 !== null) value = (value & ~0xffffffffn) | low32;
  return value;
}

/** An address as a 128-bit number in the shared space, or null when it is not an IP address. */
function addressValue(text: string): bigint | null {
  if (isIPv4(text)) return V4_MAPPED_PREFIX | parseIPv4(text);
  if (isIPv6(text)) return parseIPv6(text);
  return null;
}

function maskFor(prefix128: number): bigint {
  return ALL_BITS ^ ((1n << BigInt(128 - prefix128)) - 1n);
}

/** Parses "a.b.c.d", "a.b.c.d/n", "x::y" or "x::y/n"; a string says what is wrong. */
export function parseAddressRange(entry: string): AddressRange | string {
  const slash = entry.indexOf('/');
  const addressText = slash >= 0 ? entry.slice(0, slash) : entry;
  const v4 = isIPv4(addressText);
  if (!v4 && !isIPv6(addressText)) {
    return `is not an IPv4 or IPv6 address or CIDR range (e.g. 10.0.0.0/8, ::1)`;
  }
  if (!v4 && addressText.includes('%') && slash >= 0) {
    return `has a zone index (%...) together with a prefix length`;
  }
  const maxPrefix = v4 ? 32 : 128;
  let prefix = maxPrefix;
  if (slash >= 0) {
    const prefixText = entry.slice(slash + 1);
    if (!/^(0|[1-9][0-9]{0,2})$/.test(prefixText) || Number(prefixText) > maxPrefix) {
      return `has a prefix length that is not a whole number from 0 to ${maxPrefix}`;
    }
    prefix = Number(prefixText);
  }
  const value = addressValue(addressText);
  if (value === null) return `is not an IPv4 or IPv6 address`;
  const mask = maskFor(v4 ? prefix + 96 : prefix);
  if ((value & ~mask & ALL_BITS) !== 0n) {
    // A host address with a prefix ("10.1.2.3/8") is usually a typo for a narrower range; make
    // the analyst say which network they mean instead of silently widening or narrowing it.
    return `has address bits set beyond the /${prefix} prefix; write the network address of the range`;
  }
  return { network: value, mask };
}

/** A compiled allow-list for a listener: parse once, check every new connection cheaply. */
export class AddressAllowList {
  private readonly ranges: readonly AddressRange[];

  /** Throws TypeError naming the entry index when an entry is not an address or range. */
  constructor(entries: readonly string[]) {
    const ranges: AddressRange[] = [];
    entries.forEach((entry, index) => {
      const range = parseAddressRange(entry);
      if (typeof range === 'string') throw new TypeError(`allow-list entry ${index} ${range}`);
      ranges.push(range);
    });
    this.ranges = ranges;
  }

  allows(address: string): boolean {
    const value = addressValue(address);
    if (value === null) return false;
    return this.ranges.some((r) => (value & r.mask) === r.network);
  }
}

/**
 * True when `address` (as reported by socket.remoteAddress) lies in one of the IPs or CIDR ranges
 * of `allowList`. IPv4-mapped IPv6 addresses (::ffff:1.2.3.4) match IPv4 entries and vice versa.
 * Fails closed: an empty list, an unparsable address and unparsable entries allow nothing.
 */
export function isAddressAllowed(address: string, allowList: readonly string[]): boolean {
  const value = addressValue(address);
  if (value === null) return false;
  for (const entry of allowList) {
    const range = parseAddressRange(entry);
    if (typeof range !== 'string' && (value & range.mask) === range.network) return true;
  }
  return false;
}
