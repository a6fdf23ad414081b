/**
 * pino JSON logs. The engine never passes message content to the logger: call sites log
 * channel, message type, MSH-10, offsets, codes and counts only. Redaction below is a second
 * line of defence for field names that would carry PHI if someone added them by mistake.
 */
import { pino, destination, type Logger } from 'pino';

export type { Logger };

export function createLogger(opts: { level?: string; destination?: NodeJS.WritableStream } = {}): Logger {
  const level = opts.level ?? process.env['LOG_LEVEL'] ?? 'info';
  return pino(
    {
      level,
      base: { service: 'hl7-engine' },
      redact: {
        paths: ['text', 'raw', 'message.text', '*.text', '*.raw', 'patient', '*.patient', 'pid', '*.pid'],
        censor: '[redacted]',
      },
    },
    opts.destination ?? destination({ fd: 2, sync: true }),
  );
}
