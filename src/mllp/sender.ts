import net from 'node:net';
import tls from 'node:tls';
import { MllpFramer, frameParts } from './framer.js';
import { MllpSendError } from './types.js';

export interface SendOptions {
  readonly host: string;
  readonly port: number;
  /** TLS options; when present the connection is TLS (host is used for SNI unless set here). */
  readonly tls?: tls.ConnectionOptions;
  /** How long to wait for the matching ACK after the message is written. */
  readonly ackTimeoutMs: number;
  /** Further attempts after a lost or refused connection (0 = try once). */
  readonly retries: number;
  /** Delay before the first retry; doubles for each further retry. */
  readonly backoffMs: number;
  /** Largest ACK payload accepted; a bigger one is treated as a broken connection. */
  readonly maxFrameBytes?: number;
}

export interface AckReceived {
  readonly code: string; // MSA-1
  readonly controlId: string; // MSA-2
  readonly text: string; // MSA-3, as sent (still HL7-escaped)
  readonly raw: Buffer; // the whole ACK payload, without MLLP envelope
}

const DEFAULT_MAX_ACK_BYTES = 1 << 20;

interface Waiter {
  readonly controlId: string;
  readonly settle: (ack: AckReceived | null, err: Error | null) => void;
  /** Enhanced mode: true when this ACK was the commit (CA) and the application ACK is still to come. */
  readonly committed?: (ack: AckReceived) => boolean;
}

export interface SendCallOptions {
  /**
   * Enhanced acknowledgment (MSH-15/16 = AL): a CA is only the receiver's commit, so the call
   * waits, up to another ackTimeoutMs, for the application ACK (AA/AE/AR with the same MSA-2)
   * and resolves with that one. CE/CR, or an original-mode answer, resolve at once. An
   * application ACK that asks for one (its MSH-15 = AL) is answered with a CA.
   */
  readonly applicationAck?: boolean;
}

/** Lost connections while waiting are retried; ACK timeouts and close() are final. */
class ConnectionLost extends Error {}

/**
 * MLLP client: one connection, one message in flight, answers matched by MSA-2 = MSH-10.
 *
 * Delivery is at-least-once: a message whose connection drops before its ACK is written again
 * on a new connection, so the receiver may see it twice (and should deduplicate on MSH-10, as
 * this engine does). An ACK timeout is not retried here, because the receiver may be slow rather
 * than gone; the caller decides whether to resend.
 */
export class MllpSender {
  readonly #opts: SendOptions;
  readonly #framer: MllpFramer;
  #socket: net.Socket | null = null;
  #connecting: Promise<net.Socket> | null = null;
  #waiter: Waiter | null = null;
  #queue: Promise<unknown> = Promise.resolve();
  #closed = false;
  #cancelSleep: (() => void) | null = null;
  #skipped = 0;

  constructor(opts: SendOptions) {
    this.#opts = opts;
    this.#framer = new MllpFramer({ maxFrameBytes: opts.maxFrameBytes ?? DEFAULT_MAX_ACK_BYTES });
  }

  /** ACK frames received that answered no message we were waiting for (late, duplicate or foreign). */
  get skippedAcks(): number {
    return this.#skipped;
  }

  /** Open the connection now, so a wrong host or certificate shows up before the first send. */
  async connect(): Promise<void> {
    if (this.#closed) throw this.#closedError(0);
    await this.#open();
  }

  /**
   * Send one message (raw bytes, no MLLP envelope) and resolve with its ACK. Calls queue up and
   * go out in call order, each after the previous one is answered or has failed.
   */
  send(message: Buffer, call: SendCallOptions = {}): Promise<AckReceived> {
    const result = this.#queue.then(() => this.#deliver(message, call));
    this.#queue = result.catch(() => undefined);
    return result;
  }

  /** Stop: the message in flight and queued ones fail with code 'closed'; the socket is ended. */
  async close(): Promise<void> {
    this.#closed = true;
    this.#cancelSleep?.();
    this.#waiter?.settle(null, this.#closedError(1));
    const socket = this.#socket ?? (await this.#connecting?.catch(() => null)) ?? null;
    this.#socket = null;
    if (socket === null || socket.destroyed) return;
    await new Promise<void>((resolve) => {
      socket.once('close', () => resolve());
      socket.end();
      // A peer that never finishes the close handshake must not keep close() pending.
      setTimeout(() => socket.destroy(), 1000).unref();
    });
  }

  async #deliver(message: Buffer, call: SendCallOptions): Promise<AckReceived> {
    const controlId = readControlId(message);
    if (controlId === null) {
      throw new MllpSendError('no-control-id', 'message has no MSH-10 (or no MSH segment at its start), so its ACK could not be matched; not sent', 0);
    }
    const { retries, backoffMs } = this.#opts;
    let written = 0;
    let lastCause: unknown;
    for (let attempt = 0; attempt <= retries; attempt++) {
      if (attempt > 0) await this.#sleep(backoffMs * 2 ** (attempt - 1));
      if (this.#closed) throw this.#closedError(written);
      try {
        const socket = this.#socket ?? (await this.#open());
        written++;
        return await this.#exchange(socket, message, controlId, written, call);
      } catch (err) {
        if (!(err instanceof ConnectionLost) && !isConnectError(err)) throw err;
        lastCause = err;
      }
    }
    throw new MllpSendError(
      'connection-failed',
      `no ACK from ${this.#peer()}: connection lost or refused on all ${retries + 1} attempts ` +
        `(${describe(lastCause)}); the message was written ${written} time(s)`,
      written,
      lastCause,
    );
  }

  #exchange(socket: net.Socket, message: Buffer, controlId: string, attempt: number, call: SendCallOptions = {}): Promise<AckReceived> {
    return new Promise<AckReceived>((resolve, reject) => {
      const expire = (what: string): NodeJS.Timeout =>
        setTimeout(() => {
          settle(
            null,
            new MllpSendError(
              'ack-timeout',
              `${what} from ${this.#peer()} within ${this.#opts.ackTimeoutMs} ms for a ${message.length}-byte message ` +
                `(attempt ${attempt}); the receiver may still process it`,
              attempt,
            ),
          );
        }, this.#opts.ackTimeoutMs);
      let timer = expire('no ACK');
      let commit = false;
      const settle = (ack: AckReceived | null, err: Error | null): void => {
        if (this.#waiter !== waiter) return;
        this.#waiter = null;
        clearTimeout(timer);
        if (ack !== null) resolve(ack);
        else reject(err ?? new ConnectionLost('connection lost'));
      };
      const waiter: Waiter = {
        controlId,
        settle,
        ...(call.applicationAck
          ? {
              committed: (ack: AckReceived): boolean => {
                if (commit || ack.code.toUpperCase() !== 'CA') return false;
                commit = true;
                clearTimeout(timer);
                timer = expire('a commit ACK (CA) but no application ACK');
                return true;
              },
            }
          : {}),
      };
      this.#waiter = waiter;
      if (socket.destroyed) {
        if (this.#socket === socket) this.#socket = null;
        settle(null, new ConnectionLost('connection closed before the message was written'));
        return;
      }
      socket.cork();
      for (const part of frameParts(message)) socket.write(part);
      socket.uncork();
    });
  }

  #open(): Promise<net.Socket> {
    if (this.#socket !== null) return Promise.resolve(this.#socket);
    if (this.#connecting !== null) return this.#connecting;
    const { host, port } = this.#opts;
    const opening = new Promise<net.Socket>((resolve, reject) => {
      const secure = this.#opts.tls !== undefined;
      const socket = secure
        ? tls.connect({ servername: net.isIP(host) === 0 ? host : undefined, ...this.#opts.tls, host, port })
        : net.connect({ host, port });
      socket.setNoDelay(true);
      socket.setKeepAlive(true);
      const onConnectError = (err: Error): void => {
        socket.destroy();
        reject(new ConnectError(`cannot connect to ${host}:${port}: ${describe(err)}`, err));
      };
      socket.once('error', onConnectError);
      socket.once(secure ? 'secureConnect' : 'connect', () => {
        socket.off('error', onConnectError);
        if (this.#closed) {
          socket.destroy();
          reject(this.#closedError(0));
          return;
        }
        this.#attach(socket);
        resolve(socket);
      });
    });
    this.#connecting = opening;
    const done = (): void => {
      if (this.#connecting === opening) this.#connecting = null;
    };
    opening.then(done, done);
    return opening;
  }

  #attach(socket: net.Socket): void {
    this.#socket = socket;
    this.#framer.reset();
    const sink = {
      frame: (payload: Buffer) => this.#onAck(payload),
      discarded: () => {},
      oversize: () => socket.destroy(),
    };
    socket.on('data', (chunk: Buffer) => this.#framer.push(chunk, sink));
    // Errors always end in 'close', which is where the waiter learns about them.
    socket.on('error', () => {});
    socket.on('close', () => {
      if (this.#socket !== socket) return;
      this.#socket = null;
      this.#framer.reset();
      this.#waiter?.settle(null, new ConnectionLost('connection closed before the ACK'));
    });
  }

  #onAck(payload: Buffer): void {
    const ack = parseAck(payload);
    const waiter = this.#waiter;
    if (ack === null || waiter === null || ack.controlId !== waiter.controlId) {
      this.#skipped++;
      return;
    }
    if (waiter.committed?.(ack)) return;
    if (waiter.committed !== undefined && /^A[AER]$/i.test(ack.code)) this.#commitAccept(payload);
    waiter.settle(ack, null);
  }

  /** Enhanced mode: the receiver's application ACK is a message too; when its MSH-15 asks (AL), it gets our CA. */
  #commitAccept(payload: Buffer): void {
    const text = payload.toString('latin1');
    const msh = text.slice(text.indexOf('MSH')).split(/\r\n|\r|\n/)[0] ?? '';
    const sep = msh.charAt(3);
    if (sep === '') return;
    const f = msh.split(sep);
    // f[n] is MSH-(n+1): the field separator itself is MSH-1.
    if ((f[14] ?? '').toUpperCase() !== 'AL' || !f[9]) return;
    const enc = f[1] ?? '^~\\&';
    const now = new Date().toISOString().replace(/[-:T]/g, '').slice(0, 14);
    const ack = [`MSH${sep}${enc}${sep}${f[4] ?? ''}${sep}${f[5] ?? ''}${sep}${f[2] ?? ''}${sep}${f[3] ?? ''}${sep}${now}${sep}${sep}ACK${sep}CA${f[9]}${sep}P${sep}${f[11] ?? '2.5.1'}`, `MSA${sep}CA${sep}${f[9]}`, ''].join('\r');
    const socket = this.#socket;
    if (socket === null || socket.destroyed) return;
    socket.cork();
    for (const part of frameParts(Buffer.from(ack, 'latin1'))) socket.write(part);
    socket.uncork();
  }

  #sleep(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const timer = setTimeout(done, ms);
      function done(): void {
        clearTimeout(timer);
        resolve();
      }
      this.#cancelSleep = done;
    }).finally(() => {
      this.#cancelSleep = null;
    });
  }

  #peer(): string {
    return `${this.#opts.host}:${this.#opts.port}`;
  }

  #closedError(attempts: number): MllpSendError {
    return new MllpSendError('closed', `sender to ${this.#peer()} was closed before the ACK arrived`, attempts);
  }
}

class ConnectError extends Error {}

function isConnectError(err: unknown): boolean {
  return err instanceof ConnectError;
}

/** Error code and class only: socket errors never carry message content, but keep it that way. */
function describe(err: unknown): string {
  if (err instanceof Error) {
    const code = (err as NodeJS.ErrnoException).code;
    const cause = err.cause instanceof Error ? (err.cause as NodeJS.ErrnoException).code : undefined;
    return code ?? cause ?? err.message;
  }
  return 'unknown error';
}

const CR = 0x0d;
const LF = 0x0a;

/**
 * MSH-10 read straight from the bytes: the field separator is the byte after "MSH", MSH-10 is
 * the text after the 9th separator (MSH-1 is the separator itself). Read as latin1 so ids with
 * any bytes compare exactly against MSA-2 read the same way.
 */
export function readControlId(message: Buffer): string | null {
  const start = message.indexOf('MSH');
  // Tolerate a BOM or whitespace before MSH, but not an MSH that is not the first segment.
  if (start === -1 || message.subarray(0, start).some((b) => b === CR || b === LF)) return null;
  const id = fieldOf(message, start, 10);
  return id === null || id === '' ? null : id;
}

/** The ACK's MSA-1..3, or null when the payload is not an ACK we can read. */
export function parseAck(payload: Buffer): AckReceived | null {
  const msh = payload.indexOf('MSH');
  if (msh === -1 || msh + 3 >= payload.length) return null;
  const sep = payload[msh + 3] ?? 0;
  // MSA counts only at a segment start and followed by the field separator, not inside a value.
  let at = payload.indexOf('MSA', msh + 3);
  while (at !== -1) {
    const before = payload[at - 1];
    if ((before === CR || before === LF) && payload[at + 3] === sep) break;
    at = payload.indexOf('MSA', at + 1);
  }
  if (at === -1) return null;
  return {
    code: fieldOf(payload, at, 1, sep) ?? '',
    controlId: fieldOf(payload, at, 2, sep) ?? '',
    text: fieldOfUtf8(payload, at, 3, sep),
    raw: payload,
  };
}

/** Field n of the segment starting at `seg` (for MSH, n counts MSH-1 as the separator). */
function fieldOf(b: Buffer, seg: number, n: number, sepByte?: number): string | null {
  const range = fieldRange(b, seg, n, sepByte);
  return range === null ? null : b.toString('latin1', range[0], range[1]);
}

function fieldOfUtf8(b: Buffer, seg: number, n: number, sep: number): string {
  const range = fieldRange(b, seg, n, sep);
  return range === null ? '' : b.toString('utf8', range[0], range[1]);
}

function fieldRange(b: Buffer, seg: number, n: number, sepByte?: number): [number, number] | null {
  const sep = sepByte ?? b[seg + 3];
  if (sep === undefined || sep === CR || sep === LF) return null;
  const isMsh = sepByte === undefined;
  // In MSH the byte at seg+3 both ends "MSH" and is MSH-1, so field n starts after n-1 more.
  let remaining = isMsh ? n - 1 : n;
  let i = seg + 3;
  while (i < b.length) {
    const c = b[i];
    if (c === CR || c === LF) return null;
    if (c === sep && --remaining === 0) break;
    i++;
  }
  if (i >= b.length) return null;
  const from = i + 1;
  let to = from;
  while (to < b.length) {
    const c = b[to];
    if (c === sep || c === CR || c === LF) break;
    to++;
  }
  return [from, to];
}
