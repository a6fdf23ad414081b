import { MLLP_END, MLLP_START, MLLP_TRAILER } from './types.js';

/** Receives what the framer finds in the byte stream. Calls happen synchronously inside push(). */
export interface FrameSink {
  /**
   * One complete payload: the bytes between VT and FS, exclusive. The buffer may be a view into a
   * chunk passed to push(), so it stays valid only as long as the caller does not reuse that chunk's
   * memory (socket 'data' chunks are never reused).
   */
  frame(frame: Buffer): void;
  /** Bytes that belong to no delivered frame (see MllpFramer for the exact accounting). */
  discarded(bytes: number): void;
  /**
   * The current frame grew past maxFrameBytes. Called once per such frame; its bytes are dropped
   * and everything up to the next FS is skipped, so memory stays bounded. `head` is a copy of the
   * frame's first bytes (at most OVERSIZE_HEAD_BYTES), enough to read MSH-10 for a matching AR
   * and to show an analyst what was refused.
   */
  oversize(bytesSoFar: number, head: Buffer): void;
}

export interface MllpFramerOptions {
  /** Largest payload (bytes between VT and FS) that is delivered; one more byte is oversize. */
  readonly maxFrameBytes: number;
}

/** How much of an oversize frame is kept for oversize(): the MSH segment and a little more. */
export const OVERSIZE_HEAD_BYTES = 1024;

/** First allocation for a frame that spans reads: most HL7 messages fit, so most never regrow. */
const MIN_CAPACITY = 4096;

const OUTSIDE = 0; // waiting for VT
const IN_FRAME = 1; // between VT and FS
const AFTER_END = 2; // just saw FS; a CR here is the trailer
const SKIPPING = 3; // oversize frame: ignore bytes until FS
type State = typeof OUTSIDE | typeof IN_FRAME | typeof AFTER_END | typeof SKIPPING;

// Segment ids that can start an HL7 v2 message or batch (MSH, BHS, FHS), as ASCII bytes.
const M = 0x4d;
const S = 0x53;
const H = 0x48;
const B = 0x42;
const F = 0x46;

/**
 * Byte-level MLLP framing for one connection. Never decodes, never throws on input.
 *
 * Cost is linear in the input: a frame that spans chunks is copied into one buffer of its own
 * that grows by doubling (never past maxFrameBytes), and delivered as a view of it when its FS
 * arrives; only new bytes are ever scanned. A frame inside one chunk is delivered as a zero-copy
 * view of that chunk. Copying rather than keeping a view per chunk is what bounds memory: a
 * Buffer view costs a few hundred bytes whatever its length, so a sender that delivers a frame
 * one byte per TCP read would otherwise make the engine hold ~400 bytes per byte received. Held
 * memory is at most twice the partial frame plus MIN_CAPACITY (see `held`).
 *
 * Every input byte ends up in exactly one of: the payload of a delivered frame, the envelope of
 * a delivered frame (its VT, its FS, and a CR directly after that FS), discarded(), or buffered.
 * Discarded bytes are: bytes outside frames (garbage before a VT, between FS and the next VT,
 * including FS or CR bytes out of place), an abandoned frame's VT and bytes (see below), and all
 * bytes of an oversize frame including its VT, FS and trailer CR.
 *
 * Choices where MLLP itself is silent:
 * - FS without CR: the frame ends at FS; the next byte is read as outside bytes (or a VT).
 * - VT inside a frame: if the VT is directly followed by "MSH", "BHS" or "FHS", the sender has
 *   given up on the earlier frame and started a new message, so the frame restarts there and the
 *   earlier bytes are reported as discarded. Any other VT is kept as payload: real senders leave
 *   stray VT bytes inside messages (e.g. a VT before the final CR), and restarting there would
 *   throw away the whole message and deliver a fragment. The decision is made when FS arrives, so
 *   it does not depend on how the stream was chunked; abandoned bytes count towards
 *   maxFrameBytes until then.
 * - Oversize: measured on payload bytes; exactly maxFrameBytes is delivered, one more is not.
 *   After oversize() the framer skips to the next FS even across VT bytes: the frame's end is
 *   the only safe point to resynchronise, and the listener closes the connection anyway.
 */
export class MllpFramer {
  readonly #maxFrameBytes: number;
  #state: State = OUTSIDE;
  /** The partial frame's bytes so far (`#len` of them); null when none are held. */
  #buf: Buffer | null = null;
  #len = 0;
  #sawStartInFrame = false;
  #trailerIsDiscarded = false;

  constructor(opts: MllpFramerOptions) {
    // A non-finite or negative limit would silently disable the memory bound; clamp instead of
    // throwing because the framer promises never to throw.
    const max = Math.floor(opts.maxFrameBytes);
    this.#maxFrameBytes = Number.isFinite(max) && max >= 0 ? max : 0;
  }

  /** Payload bytes held for the frame in progress (never more than maxFrameBytes). */
  get buffered(): number {
    return this.#len;
  }

  /** Bytes of memory allocated for the frame in progress (what a per-channel cap should count). */
  get held(): number {
    return this.#buf === null ? 0 : this.#buf.length;
  }

  /** True between a frame's VT and its FS (including an oversize frame being skipped). */
  get inFrame(): boolean {
    return this.#state === IN_FRAME || this.#state === SKIPPING;
  }

  /** Forget any partial frame, e.g. when the connection is replaced. */
  reset(): void {
    this.#state = OUTSIDE;
    this.#buf = null;
    this.#len = 0;
    this.#sawStartInFrame = false;
    this.#trailerIsDiscarded = false;
  }

  /**
   * Gives up on the frame in progress (its sender took too long, or the channel has no memory to
   * spare for it): returns a copy of its first bytes and how many payload bytes it had, and
   * forgets it. Null when no frame was in progress. Later bytes are read as if outside a frame.
   */
  abandon(): { readonly head: Buffer; readonly bytes: number } | null {
    if (this.#state !== IN_FRAME) return null;
    const out = { head: this.#head(Buffer.alloc(0)), bytes: this.#len };
    this.reset();
    return out;
  }

  /** A copy of the current frame's first bytes, taken before the held bytes are dropped. */
  #head(tail: Buffer): Buffer {
    const fromBuf = Math.min(this.#len, OVERSIZE_HEAD_BYTES);
    const fromTail = Math.min(tail.length, OVERSIZE_HEAD_BYTES - fromBuf);
    const out = Buffer.alloc(fromBuf + fromTail);
    if (this.#buf !== null) this.#buf.copy(out, 0, 0, fromBuf);
    tail.copy(out, fromBuf, 0, fromTail);
    return out;
  }

  /** Appends bytes to the partial frame, growing its buffer by doubling (amortised O(1) per byte). */
  #append(chunk: Buffer, from: number, to: number): void {
    const need = this.#len + (to - from);
    if (this.#buf === null || need > this.#buf.length) {
      // Never larger than a frame may be (need itself is bounded by the oversize check).
      const size = Math.min(Math.max(need, MIN_CAPACITY, (this.#buf?.length ?? 0) * 2), Math.max(need, this.#maxFrameBytes));
      // Slow: its own ArrayBuffer, not a slice of Node's shared pool that would pin 8 KiB slabs.
      const grown = Buffer.allocUnsafeSlow(size);
      if (this.#buf !== null) this.#buf.copy(grown, 0, 0, this.#len);
      this.#buf = grown;
    }
    chunk.copy(this.#buf, this.#len, from, to);
    this.#len = need;
  }

  push(chunk: Buffer, sink: FrameSink): void {
    const n = chunk.length;
    let i = 0;
    let pending = 0; // discarded bytes not yet reported, flushed before any other event
    const flush = (): void => {
      if (pending > 0) {
        sink.discarded(pending);
        pending = 0;
      }
    };

    while (i < n) {
      switch (this.#state) {
        case AFTER_END: {
          if (chunk[i] === MLLP_TRAILER) {
            if (this.#trailerIsDiscarded) pending++;
            i++;
          }
          this.#state = OUTSIDE;
          break;
        }
        case OUTSIDE: {
          const vt = chunk.indexOf(MLLP_START, i);
          if (vt === -1) {
            pending += n - i;
            i = n;
          } else {
            pending += vt - i;
            i = vt + 1;
            this.#state = IN_FRAME;
          }
          break;
        }
        case SKIPPING: {
          const fs = chunk.indexOf(MLLP_END, i);
          if (fs === -1) {
            pending += n - i;
            i = n;
          } else {
            pending += fs + 1 - i;
            i = fs + 1;
            this.#state = AFTER_END;
            this.#trailerIsDiscarded = true;
          }
          break;
        }
        case IN_FRAME: {
          const fs = chunk.indexOf(MLLP_END, i);
          const end = fs === -1 ? n : fs;
          const total = this.#len + (end - i);
          if (total > this.#maxFrameBytes) {
            flush();
            sink.oversize(total, this.#head(chunk.subarray(i, end)));
            pending += 1 + total; // its VT and every payload byte seen so far
            this.#buf = null;
            this.#len = 0;
            this.#sawStartInFrame = false;
            if (fs === -1) {
              this.#state = SKIPPING;
              i = n;
            } else {
              pending += 1; // its FS
              this.#state = AFTER_END;
              this.#trailerIsDiscarded = true;
              i = fs + 1;
            }
            break;
          }
          if (!this.#sawStartInFrame && end > i && chunk.subarray(i, end).indexOf(MLLP_START) !== -1) {
            this.#sawStartInFrame = true;
          }
          if (fs === -1) {
            if (end > i) this.#append(chunk, i, end);
            i = n;
            break;
          }
          let frame: Buffer;
          if (this.#len === 0) {
            frame = chunk.subarray(i, fs);
          } else {
            if (fs > i) this.#append(chunk, i, fs);
            // Handed over as a view: the buffer is the frame's from now on, never written again.
            frame = this.#buf!.subarray(0, this.#len);
          }
          const restarted = this.#sawStartInFrame;
          this.#buf = null;
          this.#len = 0;
          this.#sawStartInFrame = false;
          this.#state = AFTER_END;
          this.#trailerIsDiscarded = false;
          i = fs + 1;
          if (restarted) {
            const vt = lastRestart(frame);
            if (vt !== -1) {
              pending += 1 + vt; // the abandoned frame's VT and its bytes
              frame = frame.subarray(vt + 1);
            }
          }
          flush();
          sink.frame(frame);
          break;
        }
      }
    }
    flush();
  }
}

/** Position of the last VT in the payload that starts a new message, or -1. */
function lastRestart(payload: Buffer): number {
  let v = payload.lastIndexOf(MLLP_START);
  while (v !== -1) {
    if (startsMessage(payload, v + 1)) return v;
    v = v === 0 ? -1 : payload.lastIndexOf(MLLP_START, v - 1);
  }
  return -1;
}

function startsMessage(b: Buffer, at: number): boolean {
  if (at + 3 > b.length) return false;
  const c0 = b[at];
  const c1 = b[at + 1];
  const c2 = b[at + 2];
  if (c0 === M) return c1 === S && c2 === H;
  return (c0 === B || c0 === F) && c1 === H && c2 === S;
}

const START_BYTE = Buffer.from([MLLP_START]);
const END_BYTES = Buffer.from([MLLP_END, MLLP_TRAILER]);

/**
 * The MLLP block for one payload: VT payload FS CR. Returned as three buffers so a socket can
 * write them (corked) without copying a large payload.
 */
export function frameParts(payload: Buffer): readonly [Buffer, Buffer, Buffer] {
  return [START_BYTE, payload, END_BYTES];
}

/** The MLLP block for one payload as a single buffer (one copy; fine for ACK-sized payloads). */
export function encodeFrame(payload: Buffer): Buffer {
  const out = Buffer.allocUnsafe(payload.length + 3);
  out[0] = MLLP_START;
  payload.copy(out, 1);
  out[payload.length + 1] = MLLP_END;
  out[payload.length + 2] = MLLP_TRAILER;
  return out;
}
