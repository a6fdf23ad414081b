/** Command-line options of the console, shared by `hl7-engine console` and `hl7-engine start`. */
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { trustedProxyProblem, type TrustedProxyConfig } from '../auth/index.js';
import { loadDestinations, type Destination } from '../delivery/index.js';

export const CONSOLE_USAGE = `  hl7-engine console [--listen [HOST:]PORT] [--channels DIR] [--mappings DIR] [--destinations DIR] [--index FILE]
                     [--users FILE] [--console-cert F --console-key F] [--identity-header NAME --trusted-proxy ADDR[,ADDR…]]
      Runs the operator console alone against the same Kafka ($KAFKA_BROKERS, or this checkout's
      local broker) and prints its URL (default 127.0.0.1:8480). \`hl7-engine start --console
      [HOST:]PORT\` serves it beside the listeners. --index: the search index, rebuilt from Kafka
      when missing ($HL7_ENGINE_STATE/console-index.sqlite or ./.hl7-engine/console-index.sqlite).
      --users: see \`hl7-engine users\`. --console-cert/--console-key: serve HTTPS (cookies Secure).
      --identity-header with --trusted-proxy: believe that header (set by an OIDC reverse proxy)
      as the user name, only on requests from those addresses or CIDR ranges; the user must be
      in the users file, whose role applies. Off unless both are given. --destinations: the
      write-back destinations (as \`hl7-engine deliver\`; default ./destinations when it exists)
      whose dead letters the queue shows as outbound, to replay, resolve, discard, assign, escalate.`;

export const CONSOLE_OPTIONS = {
  index: { type: 'string' },
  destinations: { type: 'string' },
  users: { type: 'string' },
  'console-cert': { type: 'string' },
  'console-key': { type: 'string' },
  'identity-header': { type: 'string' },
  'trusted-proxy': { type: 'string' },
} as const;

export interface ParsedConsoleOptions {
  readonly host: string;
  readonly port: number;
  readonly indexFile?: string;
  readonly usersFile?: string;
  readonly tls?: { key: Buffer; cert: Buffer };
  readonly trustedProxy?: TrustedProxyConfig;
  readonly destinations?: Destination[];
}

/**
 * The destinations whose dead letters the console shows: DIR as `deliver` reads it; without
 * --destinations, ./destinations when it exists (a console without write-back has none). A
 * destination file that does not load stops the console with file:line:col, as `deliver --check`.
 */
export function consoleDestinations(dir: string | undefined): Destination[] {
  const folder = resolve(dir ?? 'destinations');
  if (dir === undefined && !existsSync(folder)) return [];
  const { destinations, errors } = loadDestinations(folder);
  if (errors.length > 0) throw new Error(`${errors.map((e) => e.message).join('\n')}\n${errors.length} error(s) in ${folder}`);
  return destinations;
}

/** [HOST:]PORT and the shared options; throws with an operator's message on bad input. */
export function consoleOptionsFrom(
  listen: string,
  v: { index?: string; destinations?: string; users?: string; 'console-cert'?: string; 'console-key'?: string; 'identity-header'?: string; 'trusted-proxy'?: string },
): ParsedConsoleOptions {
  const m = /^(?:(.*):)?(\d{1,5})$/.exec(listen);
  const port = Number(m?.[2]);
  if (!m || port > 65535) throw new Error(`the console address must be [HOST:]PORT, got ${listen}`);
  if (Boolean(v['console-cert']) !== Boolean(v['console-key'])) throw new Error('--console-cert and --console-key go together');
  if ((v['identity-header'] === undefined) !== (v['trusted-proxy'] === undefined)) {
    throw new Error('--identity-header and --trusted-proxy go together: a header is believed only from the proxy\'s addresses');
  }
  const trustedProxy = v['identity-header'] !== undefined ? { header: v['identity-header'], addresses: (v['trusted-proxy'] ?? '').split(',').map((a) => a.trim()).filter(Boolean) } : undefined;
  const problem = trustedProxy ? trustedProxyProblem(trustedProxy) : null;
  if (problem) throw new Error(problem);
  return {
    host: (m[1] ?? '127.0.0.1').replace(/^\[(.*)\]$/, '$1'),
    port,
    ...(v.index ? { indexFile: resolve(v.index) } : {}),
    ...(v.users ? { usersFile: resolve(v.users) } : {}),
    ...(v['console-cert'] && v['console-key'] ? { tls: { cert: readFileSync(v['console-cert']), key: readFileSync(v['console-key']) } } : {}),
    ...(trustedProxy ? { trustedProxy } : {}),
    destinations: consoleDestinations(v.destinations),
  };
}
