/**
 * pino JSON logs. The engine never passes message content to the logger: call sites log
 * channel, message type, MSH-10, offsets, codes and counts only. Redaction below is a second
 * line of defence for field names that would carry PHI if someone added them by mistake.
 *
 * Values a sender chose (MSH-10, the message type, a refusal reason quoting MSH fields) can be
 * any length, up to a whole frame: call sites pass them through capForLog, and the formatter
 * below caps every string field again, so no sender can make a log line of a megabyte.
 */
import { pino, destination, type Logger } from 'pino';

export type { Logger };

/** Characters of a sender-supplied value kept in a log field. */
export const LOG_VALUE_CAP = 64;
/**
 * Characters of any string field, whoever built it (the backstop for a call site that forgot
 * capForLog): long enough for the engine's own explanations, far from attacker-sized.
 */
export const LOG_FIELD_CAP = 1024;

/**
 * A sender-supplied value as it may appear in a log line: at most `max` characters, then a note
 * of how long it really was ("…(1048576 bytes)"), so an operator still sees that it was huge.
 */
export function capForLog(value: string, max?: number): string;
export function capForLog(value: string | null | undefined, max?: number): string | null;
export function capForLog(value: string | null | undefined, max = LOG_VALUE_CAP): string | null {
  if (value === null || value === undefined) return null;
  if (value.length <= max) return value;
  return `${value.slice(0, max)}…(${Buffer.byteLength(value)} bytes)`;
}

/** Caps every string in a log object (nested a few levels), leaving other values alone. */
function capFields(x: unknown, depth: number): unknown {
  if (typeof x === 'string') return capForLog(x, LOG_FIELD_CAP);
  if (depth <= 0 || typeof x !== 'object' || x === null || x instanceof Error) return x;
  if (Array.isArray(x)) return x.map((v) => capFields(v, depth - 1));
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(x as Record<string, unknown>)) out[k] = capFields(v, depth - 1);
  return out;
}

export function createLogger(opts: { level?: string; destination?: NodeJS.WritableStream; role?: string } = {}): Logger {
  const level = opts.level ?? process.env['LOG_LEVEL'] ?? 'info';
  return pino(
    {
      level,
      // `role` tells the transform process's lines from its parent's in the one stream they share.
      base: { service: 'hl7-engine', ...(opts.role ? { role: opts.role } : {}) },
      redact: {
        paths: ['text', 'raw', 'message.text', '*.text', '*.raw', 'patient', '*.patient', 'pid', '*.pid'],
        censor: '[redacted]',
      },
      formatters: { log: (obj) => capFields(obj, 4) as Record<string, unknown> },
      hooks: {
        // The message string too: a call site that interpolates a value into it is capped.
        logMethod(args, method) {
          const capped = args.map((a) => (typeof a === 'string' ? capForLog(a, LOG_FIELD_CAP) : a)) as Parameters<typeof method>;
          return method.apply(this, capped);
        },
      },
    },
    opts.destination ?? destination({ fd: 2, sync: true }),
  );
}
