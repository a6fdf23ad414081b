/**
 * The memory of recently stored messages that makes a resend harmless: a sender that got no
 * ACK (or an AE after a slow Kafka) resends the same bytes, and we answer AA without publishing a
 * second copy. Identity is sender + MSH-10 + a hash of the bytes, so a sender that reuses a
 * control id for a different message is not mistaken for a resend.
 *
 * The memory is rebuilt from the raw topic at start (see recoverDedupe), so it survives restarts
 * and always agrees with what Kafka actually holds.
 */
import { createHash } from 'node:crypto';

export function dedupeKey(channel: string, sender: string, controlId: string, bytesSha256: string): string {
  return createHash('sha256').update(`${channel}\0${sender}\0${controlId}\0${bytesSha256}`).digest('hex');
}

export class DedupeMemory {
  // Map keeps insertion order, which is storage order: the oldest entry is the first key.
  private readonly seen = new Map<string, number>();
  private readonly windowMs: number;
  private readonly maxEntries: number;

  constructor(opts: { windowSeconds: number; maxEntries: number }) {
    this.windowMs = opts.windowSeconds * 1000;
    this.maxEntries = opts.maxEntries;
  }

  get size(): number {
    return this.seen.size;
  }

  has(key: string, now = Date.now()): boolean {
    const at = this.seen.get(key);
    if (at === undefined) return false;
    if (now - at > this.windowMs) {
      this.seen.delete(key);
      return false;
    }
    return true;
  }

  remember(key: string, at = Date.now()): void {
    this.seen.delete(key);
    this.seen.set(key, at);
    this.evict(at);
  }

  private evict(now: number): void {
    for (const [k, at] of this.seen) {
      if (this.seen.size <= this.maxEntries && now - at <= this.windowMs) break;
      this.seen.delete(k);
    }
  }
}
