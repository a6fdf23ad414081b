/**
 * One MLLP listener per channel: plain TCP or TLS (optionally mutual), bound where the channel
 * says. Frames on one connection are handled as they arrive (so their Kafka writes can share a
 * group commit) but always answered in arrival order. Reading pauses when a sender pipelines
 * more than `maxPipelined` frames, which keeps memory bounded.
 */
import { createServer as createTcpServer, type Server, type Socket, type AddressInfo } from 'node:net';
import { createServer as createTlsServer, type TLSSocket, type TlsOptions } from 'node:tls';
import { readFileSync } from 'node:fs';
import { MllpFramer } from './framer.js';
import { encodeFrame } from './framer.js';
import { buildAck, DEFAULT_DELIMITERS, ERR_APPLICATION_INTERNAL, newControlId } from '../hl7/index.js';

/** Where and when a frame arrived; ingest stores it in the raw envelope. */
export interface FrameContext {
  readonly remoteAddress: string;
  /** host:port of the listener. */
  readonly listener: string;
  readonly receivedAt: Date;
}

export interface FrameAnswer {
  /** The ACK message, without the MLLP envelope; null = send nothing (MSH-15 said so). */
  readonly ack: Buffer | null;
  readonly code: string;
  readonly outcome: string;
  readonly controlId: string;
  readonly type: string;
}

/** What the listener calls; ingest implements it. Must not reject, but the listener copes if it does. */
export interface FrameHandler {
  handleFrame(frame: Buffer, ctx: FrameContext): Promise<FrameAnswer>;
  handleOversize(head: Buffer, totalBytes: number, ctx: FrameContext): Promise<FrameAnswer>;
}

export type TlsMinVersion = 'TLSv1.2' | 'TLSv1.3';

/** TLS for a listener (a channel's listener.tls, every default filled in). */
export interface ListenerTls {
  /** Absolute path of the PEM private key. */
  readonly key: string;
  /** Absolute path of the PEM certificate chain. */
  readonly cert: string;
  /** Absolute path of the PEM CA bundle for client certificates, or null for the system roots. */
  readonly ca: string | null;
  readonly requestCert: boolean;
  readonly rejectUnauthorized: boolean;
  /** Client certificate subject CNs or full subject strings; null = any certificate `ca` signed. */
  readonly allowedSubjects: readonly string[] | null;
  readonly minVersion: TlsMinVersion;
}

export interface ListenerOptions {
  readonly channel: string;
  readonly host: string;
  readonly port: number;
  readonly maxFrameBytes: number;
  readonly idleTimeoutSeconds: number;
  readonly maxConnections: number;
  readonly tls: ListenerTls | null;
  readonly isAddressAllowed: (address: string) => boolean;
  readonly maxPipelined?: number;
}

export interface ListenerEvents {
  connectionOpened?(peer: string, tls: boolean): void;
  connectionClosed?(peer: string, frames: number): void;
  connectionRefused?(peer: string, reason: 'address' | 'subject' | 'max-connections'): void;
  discarded?(bytes: number): void;
  answered?(answer: FrameAnswer, seconds: number): void;
  handlerFailed?(err: unknown): void;
}

/**
 * The subject as "K=V,K=V" in both orders: as the certificate writes its DN (C=…,O=…,CN=…) and
 * in RFC 4514 order (CN=…,O=…,C=…), which is what the channel schema documents and what
 * `openssl x509 -subject -nameopt RFC2253` prints, so an operator may copy either.
 */
function subjectStrings(subject: Record<string, string | string[]> | undefined): readonly string[] {
  if (!subject) return [];
  const parts = Object.entries(subject).map(([k, v]) => `${k}=${Array.isArray(v) ? v.join('+') : v}`);
  return [parts.join(','), [...parts].reverse().join(',')];
}

/** An AE for when the handler itself failed: the sender must resend, nothing was promised. */
function internalErrorAck(): FrameAnswer {
  const text = buildAck({
    inbound: null,
    delimiters: DEFAULT_DELIMITERS,
    outcome: 'error',
    mode: 'original',
    error: { code: ERR_APPLICATION_INTERNAL, severity: 'E', text: 'internal error; message not stored, please resend' },
    controlId: newControlId(),
    now: new Date(),
  });
  return { ack: Buffer.from(text, 'latin1'), code: 'AE', outcome: 'internal-error', controlId: '', type: 'unknown' };
}

class Connection {
  private readonly framer: MllpFramer;
  private tail: Promise<void> = Promise.resolve();
  private pending = 0;
  private paused = false;
  private draining = false;
  private closing = false;
  frames = 0;

  constructor(
    readonly socket: Socket,
    private readonly opts: ListenerOptions,
    private readonly handler: FrameHandler,
    private readonly events: ListenerEvents,
    private readonly ctxBase: { remoteAddress: string; listener: string },
    private readonly onDone: () => void,
  ) {
    this.framer = new MllpFramer({ maxFrameBytes: opts.maxFrameBytes });
    const sink = {
      frame: (f: Buffer) => this.onFrame(f),
      discarded: (n: number) => this.events.discarded?.(n),
      oversize: (n: number, head?: Buffer) => this.onOversize(n, head),
    };
    socket.on('data', (chunk: Buffer) => {
      if (this.closing) return;
      this.framer.push(chunk, sink);
    });
    if (opts.idleTimeoutSeconds > 0) {
      socket.setTimeout(opts.idleTimeoutSeconds * 1000, () => {
        // Already ended by us and still open: the peer never closed its side; free the slot.
        if (socket.writableEnded) socket.destroy();
        else if (this.pending === 0) socket.end();
      });
    }
    socket.on('error', () => undefined); // 'close' follows; a reset peer is not our failure
    // A sender may half-close right after its last frame (send, shutdown, read the ACK). Its
    // frames are still answered before our side closes; closing at its FIN would drop the ACK
    // of a message that is already stored (or the AR of one already dead-lettered).
    socket.on('end', () => {
      this.draining = true;
      if (this.pending === 0) socket.end();
    });
    socket.on('close', () => this.onDone());
  }

  private ctx(): FrameContext {
    return { ...this.ctxBase, receivedAt: new Date() };
  }

  private enqueue(work: Promise<FrameAnswer>, then?: () => void): void {
    const started = process.hrtime.bigint();
    this.pending++;
    if (!this.paused && this.pending >= (this.opts.maxPipelined ?? 256)) {
      this.paused = true;
      this.socket.pause();
    }
    const safe = work.catch((err: unknown) => {
      this.events.handlerFailed?.(err);
      return internalErrorAck();
    });
    this.tail = this.tail
      .then(() => safe)
      .then((answer) => {
        if (answer.ack && !this.socket.destroyed) this.socket.write(encodeFrame(answer.ack));
        this.events.answered?.(answer, Number(process.hrtime.bigint() - started) / 1e9);
        then?.();
      })
      .finally(() => {
        this.pending--;
        if (this.paused && this.pending < (this.opts.maxPipelined ?? 256) / 2 && !this.draining) {
          this.paused = false;
          this.socket.resume();
        }
        if (this.draining && this.pending === 0) this.socket.end();
      });
  }

  private onFrame(frame: Buffer): void {
    this.frames++;
    this.enqueue(this.handler.handleFrame(frame, this.ctx()));
  }

  private onOversize(total: number, head?: Buffer): void {
    this.frames++;
    // Nothing after an oversize frame on this connection can be trusted to be framed right, so
    // later bytes are dropped unread. Reading goes on (not pause()): a paused socket never sees
    // the peer's FIN behind the bytes still in flight, and the connection would never close.
    this.closing = true;
    this.enqueue(this.handler.handleOversize(head ?? Buffer.alloc(0), total, this.ctx()), () => this.socket.end());
  }

  /** Graceful shutdown: read nothing more, answer what was received, then close. */
  drain(): void {
    this.draining = true;
    this.socket.pause();
    if (this.pending === 0) this.socket.end();
  }
}

export class MllpListener {
  private server: Server | null = null;
  private readonly connections = new Set<Connection>();
  private readonly opts: ListenerOptions;
  private readonly handler: FrameHandler;
  private readonly events: ListenerEvents;
  private bound: AddressInfo | null = null;

  constructor(opts: ListenerOptions, handler: FrameHandler, events: ListenerEvents = {}) {
    this.opts = opts;
    this.handler = handler;
    this.events = events;
  }

  get address(): AddressInfo {
    if (!this.bound) throw new Error(`listener for channel ${this.opts.channel} is not bound`);
    return this.bound;
  }

  get connectionCount(): number {
    return this.connections.size;
  }

  async listen(): Promise<AddressInfo> {
    const t = this.opts.tls;
    let server: Server;
    if (t) {
      const options: TlsOptions = {
        key: readFileSync(t.key),
        cert: readFileSync(t.cert),
        requestCert: t.requestCert,
        rejectUnauthorized: t.requestCert ? t.rejectUnauthorized : false,
        minVersion: t.minVersion,
      };
      if (t.ca) options.ca = readFileSync(t.ca);
      server = createTlsServer(options, (socket) => this.accept(socket, true));
    } else {
      // Half-open, so a peer's FIN does not close our side before its frames are answered. Not
      // for TLS: Node's TLS sockets do not support half-close (a failed handshake then never
      // closes), so a TLS peer must wait for its ACK before closing, as MLLP expects anyway.
      server = createTcpServer({ allowHalfOpen: true });
    }
    // Refuse early, on the raw TCP connection, before a TLS handshake costs anything. For plain
    // TCP the screen must run before accept(), or a refused peer is first reported as opened.
    server.on('connection', (raw: Socket) => this.screen(raw));
    if (!t) server.on('connection', (socket: Socket) => this.accept(socket, false));
    server.on('tlsClientError', () => undefined);
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host: this.opts.host, port: this.opts.port }, () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.bound = server.address() as AddressInfo;
    return this.bound;
  }

  private rawCount = 0;

  private screen(raw: Socket): void {
    const peer = raw.remoteAddress ?? '';
    if (!this.opts.isAddressAllowed(peer)) {
      this.events.connectionRefused?.(peer, 'address');
      raw.destroy();
      return;
    }
    if (this.rawCount >= this.opts.maxConnections) {
      this.events.connectionRefused?.(peer, 'max-connections');
      raw.destroy();
      return;
    }
    this.rawCount++;
    raw.once('close', () => this.rawCount--);
  }

  private accept(socket: Socket, isTls: boolean): void {
    if (socket.destroyed) return;
    const peer = `${socket.remoteAddress ?? ''}:${socket.remotePort ?? ''}`;
    const allowed = this.opts.tls?.allowedSubjects;
    if (isTls && allowed) {
      const cert = (socket as TLSSocket).getPeerCertificate();
      const subject = cert?.subject as unknown as Record<string, string | string[]> | undefined;
      const cn = subject?.['CN'];
      const full = subjectStrings(subject);
      const ok = allowed.some((s) => full.includes(s) || (typeof cn === 'string' && s === cn) || (Array.isArray(cn) && cn.includes(s)));
      if (!ok) {
        this.events.connectionRefused?.(socket.remoteAddress ?? '', 'subject');
        socket.destroy();
        return;
      }
    }
    socket.setNoDelay(true);
    const conn = new Connection(
      socket,
      this.opts,
      this.handler,
      this.events,
      { remoteAddress: socket.remoteAddress ?? '', listener: `${this.opts.host}:${this.bound?.port ?? this.opts.port}` },
      () => {
        this.connections.delete(conn);
        this.events.connectionClosed?.(peer, conn.frames);
      },
    );
    this.connections.add(conn);
    this.events.connectionOpened?.(peer, isTls);
  }

  /** Stops accepting, answers every frame already received, closes; forces it after graceMs. */
  async close(graceMs = 10_000): Promise<void> {
    const server = this.server;
    if (!server) return;
    const closed = new Promise<void>((r) => server.close(() => r()));
    for (const c of this.connections) c.drain();
    const timer = setTimeout(() => {
      for (const c of this.connections) c.socket.destroy();
    }, graceMs);
    await closed;
    clearTimeout(timer);
    this.server = null;
  }
}
