/**
 * A bare MLLP client for tests: writes frames exactly as given and hands back the raw answer
 * frames in order. Unlike MllpSender it sends anything (garbage, frames without MSH-10), which
 * is what the engine's bad-input tests need.
 */
import { connect, type Socket } from 'node:net';
import { MllpFramer, encodeFrame } from '../../src/mllp/index.js';

export class RawMllpClient {
  private readonly framer = new MllpFramer({ maxFrameBytes: 64 * 1024 * 1024 });
  private readonly answers: Buffer[] = [];
  private waiters: Array<() => void> = [];
  private closed = false;

  private constructor(private readonly socket: Socket) {
    const sink = {
      frame: (f: Buffer) => {
        this.answers.push(Buffer.from(f));
        this.wake();
      },
      discarded: () => undefined,
      oversize: () => undefined,
    };
    socket.on('data', (chunk: Buffer) => this.framer.push(chunk, sink));
    socket.on('close', () => {
      this.closed = true;
      this.wake();
    });
    socket.on('error', () => undefined);
  }

  static async open(port: number, host = '127.0.0.1'): Promise<RawMllpClient> {
    const socket = connect({ host, port });
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    socket.setNoDelay(true);
    return new RawMllpClient(socket);
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Writes raw bytes (no envelope added). */
  writeRaw(bytes: Buffer): void {
    this.socket.write(bytes);
  }

  /** Writes one payload inside VT … FS CR. */
  writeFrame(payload: Buffer): void {
    this.socket.write(encodeFrame(payload));
  }

  /** The next answer, or null if the connection closed or `timeoutMs` passed first. */
  async nextAnswer(timeoutMs = 10_000): Promise<Buffer | null> {
    const deadline = Date.now() + timeoutMs;
    while (this.answers.length === 0) {
      if (this.closed) return null;
      const left = deadline - Date.now();
      if (left <= 0) return null;
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
    return this.answers.shift()!;
  }

  /** Sends one frame and waits for its answer. */
  async roundTrip(payload: Buffer, timeoutMs = 10_000): Promise<Buffer | null> {
    this.writeFrame(payload);
    return this.nextAnswer(timeoutMs);
  }

  close(): void {
    this.socket.end();
    this.socket.destroy();
  }
}

/** MSA-1, MSA-2 and MSA-3 of an ACK (the field separator is the 4th byte). */
export function readAck(ack: Buffer): { code: string; controlId: string; text: string; err: string | null; segments: string[] } {
  // An ACK to a UTF-16 message is UTF-16 too (the engine answers in the inbound charset).
  const text = ack.length > 1 && ack[1] === 0 ? ack.toString('utf16le') : ack.toString('latin1');
  const fs = text[3] ?? '|';
  const segments = text.split(/\r/).filter(Boolean);
  const msa = segments.find((s) => s.startsWith('MSA'))?.split(fs) ?? [];
  const err = segments.find((s) => s.startsWith('ERR')) ?? null;
  return { code: msa[1] ?? '', controlId: msa[2] ?? '', text: msa[3] ?? '', err, segments };
}
