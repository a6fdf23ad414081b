/**
 * Trusting a reverse proxy's identity header (an OIDC proxy in front of the console): off unless
 * configured, and then believed only from the proxy's own addresses, because anyone else can send
 * any header. The header names a user; that user must be in the users file, whose role applies.
 */
import { BlockList, isIP } from 'node:net';

export interface TrustedProxyConfig {
  /** The request header the proxy sets to the authenticated user name, e.g. X-Forwarded-User. */
  readonly header: string;
  /** Addresses (or CIDR ranges) the proxy connects from; requests from elsewhere are not believed. */
  readonly addresses: readonly string[];
}

/** A problem with the configuration, in an operator's words, or null. */
export function trustedProxyProblem(c: TrustedProxyConfig): string | null {
  if (!/^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/.test(c.header)) return `the identity header must be an HTTP header name, got "${c.header}"`;
  if (['cookie', 'authorization', 'host', 'x-csrf-token'].includes(c.header.toLowerCase())) return `${c.header} cannot carry the proxy's identity`;
  if (c.addresses.length === 0) return 'trusting an identity header needs the proxy addresses it may come from';
  for (const a of c.addresses) {
    const [ip, bits, extra] = a.split('/');
    const family = isIP(ip ?? '');
    const max = family === 6 ? 128 : 32;
    if (family === 0 || extra !== undefined || (bits !== undefined && !(/^\d{1,3}$/.test(bits) && Number(bits) <= max))) {
      return `"${a}" is not a proxy address: use an IP address or a CIDR range such as 10.0.0.0/24`;
    }
  }
  return null;
}

/** An IPv4 client seen on a dual-stack socket arrives as ::ffff:a.b.c.d. */
function normalise(address: string): string {
  const m = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  return m ? m[1]! : address;
}

export class TrustedProxy {
  readonly header: string;
  private readonly allowed = new BlockList();

  constructor(config: TrustedProxyConfig) {
    const problem = trustedProxyProblem(config);
    if (problem) throw new Error(problem);
    // Node lowercases incoming header names.
    this.header = config.header.toLowerCase();
    for (const a of config.addresses) {
      const [ip, bits] = a.split('/');
      const type = isIP(ip!) === 6 ? 'ipv6' : 'ipv4';
      if (bits === undefined) this.allowed.addAddress(ip!, type);
      else this.allowed.addSubnet(ip!, Number(bits), type);
    }
  }

  /**
   * The user name the proxy asserts, or null when the request did not come from a trusted
   * address or carries no such header (then the console's own login applies).
   */
  userFrom(remoteAddress: string | undefined, headers: Readonly<Record<string, string | string[] | undefined>>): string | null {
    if (!remoteAddress) return null;
    const address = normalise(remoteAddress);
    const family = isIP(address);
    if (family === 0 || !this.allowed.check(address, family === 6 ? 'ipv6' : 'ipv4')) return null;
    const value = headers[this.header];
    if (typeof value !== 'string') return null;
    const user = value.trim();
    return user === '' ? null : user;
  }
}
