/** Command-line options of the console, shared by `hl7-engine console` and `hl7-engine start`. */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';

export const CONSOLE_USAGE = `  hl7-engine console [--listen [HOST:]PORT] [--channels DIR] [--mappings DIR] [--index FILE] [--users FILE]
                     [--console-cert F --console-key F]
      Runs the operator console alone against the same Kafka ($KAFKA_BROKERS, or this checkout's
      local broker) and prints its URL (default 127.0.0.1:8480). \`hl7-engine start --console
      [HOST:]PORT\` serves it beside the listeners. --index: the search index, rebuilt from Kafka
      when missing ($HL7_ENGINE_STATE/console-index.sqlite or ./.hl7-engine/console-index.sqlite).
      --users: see \`hl7-engine users\`. --console-cert/--console-key: serve HTTPS (cookies Secure).`;

export const CONSOLE_OPTIONS = {
  index: { type: 'string' },
  users: { type: 'string' },
  'console-cert': { type: 'string' },
  'console-key': { type: 'string' },
} as const;

export interface ParsedConsoleOptions {
  readonly host: string;
  readonly port: number;
  readonly indexFile?: string;
  readonly usersFile?: string;
  readonly tls?: { key: Buffer; cert: Buffer };
}

/** [HOST:]PORT and the shared options; throws with an operator's message on bad input. */
export function consoleOptionsFrom(listen: string, v: { index?: string; users?: string; 'console-cert'?: string; 'console-key'?: string }): ParsedConsoleOptions {
  const m = /^(?:(.*):)?(\d{1,5})$/.exec(listen);
  const port = Number(m?.[2]);
  if (!m || port > 65535) throw new Error(`the console address must be [HOST:]PORT, got ${listen}`);
  if (Boolean(v['console-cert']) !== Boolean(v['console-key'])) throw new Error('--console-cert and --console-key go together');
  return {
    host: (m[1] ?? '127.0.0.1').replace(/^\[(.*)\]$/, '$1'),
    port,
    ...(v.index ? { indexFile: resolve(v.index) } : {}),
    ...(v.users ? { usersFile: resolve(v.users) } : {}),
    ...(v['console-cert'] && v['console-key'] ? { tls: { cert: readFileSync(v['console-cert']), key: readFileSync(v['console-key']) } } : {}),
  };
}
