/** The console's own metrics, registered where the engine's are (or in a registry of their own). */
import { Counter, Registry } from 'prom-client';

export class ConsoleMetrics {
  readonly loginFailures: Counter<'reason'>;

  constructor(readonly registry: Registry = new Registry()) {
    this.loginFailures = new Counter({
      name: 'hl7_console_login_failures_total',
      help: 'Console logins refused: bad-credentials (wrong name or password) or throttled (too many recent failures).',
      labelNames: ['reason'],
      registers: [registry],
    });
  }
}
