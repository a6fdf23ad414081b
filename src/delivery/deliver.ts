/**
 * Delivering one record to a receiver: the ACK decides. AA (or CA in original mode; in
 * enhanced mode the connection waits past the CA and returns the application ACK) is delivered; AE, an ACK
 * timeout (a wrong MSA-2 never matches, so it ends as one) and a lost connection are retried
 * with doubling backoff up to the destination's maxAttempts, then dead-lettered (CE too); AR (or CR) is
 * dead-lettered at once with the receiver's ERR. Every resend carries the same bytes, hence the
 * same MSH-10, so the receiver can recognise it. Nothing here retries forever: the attempt count
 * is bounded and every attempt is reported to the caller (metrics).
 */
import { MllpSendError, type AckReceived } from '../mllp/index.js';
import type { RetryPolicy } from './destination.js';

export type DeliveryOutcome =
  | { readonly kind: 'delivered'; readonly attempts: number; readonly ackCode: string }
  | {
      readonly kind: 'dead-letter';
      /** rejected: AR/CR; retries-exhausted: AE/timeouts/lost connections maxAttempts times; unsendable: no MSH-10. */
      readonly reason: 'rejected' | 'retries-exhausted' | 'unsendable';
      readonly attempts: number;
      /** The last ACK code seen, if any ACK came. */
      readonly ackCode: string | null;
      /** The receiver's ERR segments and MSA-3 from the last ACK (its own words), or our error. */
      readonly detail: string;
    };

/** What one attempt ended in, for metrics and logs (codes only, no content). */
export type AttemptResult = 'AA' | 'CA' | 'AE' | 'AR' | 'CE' | 'CR' | 'timeout' | 'connection' | 'other';

export interface DeliverHooks {
  readonly onAttempt?: (result: AttemptResult, attempt: number) => void;
  /** Waits between attempts; tests pass a fast one. Rejects when delivery should stop (shutdown). */
  readonly sleep?: (ms: number) => Promise<void>;
}

export type SendFn = (message: Buffer) => Promise<AckReceived>;

/** The ERR segments of an ACK (and MSA-3), as the receiver wrote them. */
export function receiverError(ack: AckReceived): string {
  const text = ack.raw.toString('utf8');
  const err = text.split(/\r\n|\r|\n/).filter((s) => s.startsWith('ERR'));
  return [ack.text ? `MSA-3: ${ack.text}` : '', ...err].filter(Boolean).join('\n');
}

const defaultSleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export async function deliver(message: Buffer, send: SendFn, policy: RetryPolicy, hooks: DeliverHooks = {}): Promise<DeliveryOutcome> {
  const sleep = hooks.sleep ?? defaultSleep;
  let lastCode: string | null = null;
  let lastDetail = '';
  for (let attempt = 1; attempt <= policy.maxAttempts; attempt++) {
    if (attempt > 1) await sleep(Math.min(policy.maxBackoffMs, policy.backoffMs * 2 ** (attempt - 2)));
    let ack: AckReceived;
    try {
      ack = await send(message);
    } catch (err) {
      if (!(err instanceof MllpSendError)) throw err;
      // A closed sender means we are stopping: the record is not done, its offset stays uncommitted.
      if (err.code === 'closed') throw err;
      if (err.code === 'no-control-id') {
        hooks.onAttempt?.('other', attempt);
        return { kind: 'dead-letter', reason: 'unsendable', attempts: attempt, ackCode: null, detail: err.message };
      }
      hooks.onAttempt?.(err.code === 'ack-timeout' ? 'timeout' : 'connection', attempt);
      lastDetail = err.message;
      continue;
    }
    const code = ack.code.toUpperCase();
    lastCode = code;
    hooks.onAttempt?.((['AA', 'CA', 'AE', 'AR', 'CE', 'CR'].includes(code) ? code : 'other') as AttemptResult, attempt);
    if (code === 'AA' || code === 'CA') return { kind: 'delivered', attempts: attempt, ackCode: code };
    if (code === 'AR' || code === 'CR') return { kind: 'dead-letter', reason: 'rejected', attempts: attempt, ackCode: code, detail: receiverError(ack) };
    lastDetail = receiverError(ack) || `ACK code ${code}`;
  }
  return { kind: 'dead-letter', reason: 'retries-exhausted', attempts: policy.maxAttempts, ackCode: lastCode, detail: lastDetail };
}
