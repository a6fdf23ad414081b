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

/**
 * Why a frame was given up before its FS arrived: its sender did not finish it within the
 * frame deadline, or the channel already held its maximum of bytes in unfinished frames.
 */
export type IncompleteReason = 'timeout' | 'memory';

/** What the listener calls; ingest implements it. Must not reject, but the listener copes if it does. */
export interface FrameHandler {
  handleFrame(frame: Buffer, ctx: FrameContext): Promise<FrameAnswer>;
  handleOversize(head: Buffer, totalBytes: number, ctx: FrameContext): Promise<FrameAnswer>;
  /** A frame given up unfinished; `head` is a copy of its first bytes (at most OVERSIZE_HEAD_BYTES). */
  handleIncomplete(head: Buffer, receivedBytes: number, reason: IncompleteReason, ctx: FrameContext): Promise<FrameAnswer>;
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
  /**
   * How long a connection we half-closed (end()) may stay open waiting for the peer's FIN before
   * it is destroyed. A peer that ignores our FIN would otherwise hold its slot forever. Default 5000.
   */
  readonly closeGraceMs?: number;
  /** Most milliseconds from a frame's VT to its FS; 0 or absent = no deadline. */
  readonly frameTimeoutMs?: number;
  /** Most concurrent connections from one source address; absent = only maxConnections applies. */
  readonly maxConnectionsPerAddress?: number;
  /** Most bytes of memory all connections together may hold in unfinished frames; absent = no cap. */
  readonly maxBufferedBytes?: number;
}

export interface ListenerEvents {
  connectionOpened?(peer: string, tls: boolean): void;
  connectionClosed?(peer: string, frames: number): void;
  connectionRefused?(peer: string, reason: 'address' | 'subject' | 'max-connections' | 'max-per-address'): void;
  discarded?(bytes: number): void;
  /** A frame was given up unfinished and its connection closed (see IncompleteReason). */
  frameAbandoned?(reason: IncompleteReason, bytes: number): void;
  /** A connection we half-closed was destroyed because the peer never closed its side. */
  closeForced?(): void;
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

const DEFAULT_CLOSE_GRACE_MS = 5000;

/** What every connection of one listener shares: the bytes held in unfinished frames. */
interface SharedBudget {
  held: number;
}

class Connection {
  private readonly framer: MllpFramer;
  private tail: Promise<void> = Promise.resolve();
  private pending = 0;
  private paused = false;
  private draining = false;
  private closing = false;
  /** What this connection's framer holds, as counted in the listener's shared budget. */
  private counted = 0;
  /** Idle deadline outside frames, frame deadline inside one; never both. */
  private timer: NodeJS.Timeout | null = null;
  private timerKind: 'idle' | 'frame' | null = null;
  private graceTimer: NodeJS.Timeout | null = null;
  frames = 0;

  constructor(
    readonly socket: Socket,
    private readonly opts: ListenerOptions,
    private readonly handler: FrameHandler,
    private readonly events: ListenerEvents,
    private readonly ctxBase: { remoteAddress: string; listener: string },
    private readonly budget: SharedBudget,
    private readonly onDone: () => void,
  ) {
    this.framer = new MllpFramer({ maxFrameBytes: opts.maxFrameBytes });
    const sink = {
      frame: (f: Buffer) => this.onFrame(f),
      discarded: (n: number) => this.events.discarded?.(n),
      oversize: (n: number, head?: Buffer) => this.onOversize(n, head),
    };
    socket.on('data', (chunk: Buffer) => {
      // Bytes after we gave up on the connection, or after our FIN: nothing can answer them any
      // more (TCP allows no write after FIN), so they are not stored either. The sender gets no
      // ACK, times out and resends on a new connection; storing it here would make an AA'd-never
      // message the sender resends, i.e. a duplicate at best.
      if (this.closing) return;
      if (socket.writableEnded) {
        this.events.discarded?.(chunk.length);
        return;
      }
      const wasInFrame = this.framer.inFrame;
      const before = this.frames;
      this.framer.push(chunk, sink);
      this.account();
      if (this.closing) return;
      const completed = this.frames !== before;
      if (this.framer.inFrame) {
        // A frame started in this chunk: its deadline runs from now. Bytes inside a frame never
        // extend it, so a sender trickling a byte at a time cannot hold the slot. With the
        // deadline off, a peer that falls silent mid-frame still meets the idle timeout.
        if ((this.opts.frameTimeoutMs ?? 0) <= 0) this.arm('idle');
        else if (!wasInFrame || completed) this.arm('frame');
        if (this.opts.maxBufferedBytes !== undefined && this.budget.held > this.opts.maxBufferedBytes) this.abandon('memory');
      } else if (wasInFrame || completed) {
        // Only progress (a frame finished) restarts the idle clock: stray bytes outside frames
        // do not, so trickled garbage cannot hold the slot either.
        this.arm('idle');
      }
    });
    this.arm('idle');
    socket.on('error', () => undefined); // 'close' follows; a reset peer is not our failure
    // A sender may half-close right after its last frame (send, shutdown, read the ACK). Its
    // frames are still answered before our side closes; closing at its FIN would drop the ACK
    // of a message that is already stored (or the AR of one already dead-lettered).
    socket.on('end', () => {
      this.draining = true;
      this.disarm();
      if (this.pending === 0) this.finish();
    });
    socket.on('close', () => {
      this.disarm();
      if (this.graceTimer) clearTimeout(this.graceTimer);
      this.framer.reset();
      this.account();
      this.onDone();
    });
  }

  private ctx(): FrameContext {
    return { ...this.ctxBase, receivedAt: new Date() };
  }

  /** Keeps the listener's count of bytes held in unfinished frames in step with this framer. */
  private account(): void {
    const held = this.framer.held;
    if (held !== this.counted) {
      this.budget.held += held - this.counted;
      this.counted = held;
    }
  }

  private arm(kind: 'idle' | 'frame'): void {
    const ms = kind === 'idle' ? this.opts.idleTimeoutSeconds * 1000 : (this.opts.frameTimeoutMs ?? 0);
    if (ms <= 0) {
      this.disarm();
      return;
    }
    if (this.timer && this.timerKind === kind) {
      this.timer.refresh();
      return;
    }
    this.disarm();
    this.timerKind = kind;
    this.timer = setTimeout(() => this.onTimer(kind), ms);
  }

  private disarm(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.timerKind = null;
  }

  private onTimer(kind: 'idle' | 'frame'): void {
    this.timer = null;
    this.timerKind = null;
    if (this.closing || this.draining) return;
    // While reading is paused (too many frames pipelined, still being stored) the sender cannot
    // finish anything: that wait is ours, not the sender's.
    if (this.paused || (kind === 'idle' && this.pending > 0)) {
      this.arm(kind);
      return;
    }
    if (kind === 'frame') this.abandon('timeout');
    else if (this.framer.inFrame) this.abandon('timeout');
    else this.finish();
  }

  /** Gives up on the unfinished frame: dead-lettered and answered by the handler, then close. */
  private abandon(reason: IncompleteReason): void {
    const partial = this.framer.abandon();
    this.account();
    this.closing = true;
    this.disarm();
    if (!partial) {
      this.finish();
      return;
    }
    this.frames++;
    this.events.frameAbandoned?.(reason, partial.bytes);
    this.enqueue(this.handler.handleIncomplete(partial.head, partial.bytes, reason, this.ctx()), () => this.finish());
  }

  /**
   * Half-closes (answers already written still reach the peer), then destroys the socket if the
   * peer has not closed its side within the grace: a peer that ignores our FIN (half-open, or
   * simply hostile) must not keep the slot.
   */
  private finish(): void {
    if (!this.socket.writableEnded) this.socket.end();
    if (this.graceTimer || this.socket.destroyed) return;
    this.graceTimer = setTimeout(() => {
      if (!this.socket.destroyed) {
        this.events.closeForced?.();
        this.socket.destroy();
      }
    }, this.opts.closeGraceMs ?? DEFAULT_CLOSE_GRACE_MS);
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
        if (answer.ack && !this.socket.destroyed && !this.socket.writableEnded) this.socket.write(encodeFrame(answer.ack));
        this.events.answered?.(answer, Number(process.hrtime.bigint() - started) / 1e9);
        then?.();
      })
      .finally(() => {
        this.pending--;
        if (this.paused && this.pending < (this.opts.maxPipelined ?? 256) / 2 && !this.draining) {
          this.paused = false;
          this.socket.resume();
        }
        if (this.draining && this.pending === 0) this.finish();
        // An answer is progress: the idle clock starts again once the last one is out.
        else if (this.pending === 0 && !this.closing && !this.framer.inFrame) this.arm('idle');
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
    this.disarm();
    this.enqueue(this.handler.handleOversize(head ?? Buffer.alloc(0), total, this.ctx()), () => this.finish());
  }

  /** Graceful shutdown: read nothing more, answer what was received, then close. */
  drain(): void {
    this.draining = true;
    this.disarm();
    this.socket.pause();
    if (this.pending === 0) this.finish();
  }
}

export class MllpListener {
  private server: Server | null = null;
  private readonly connections = new Set<Connection>();
  /** Bytes all connections hold in unfinished frames (checked against maxBufferedBytes). */
  private readonly budget: SharedBudget = { held: 0 };
  /** Open raw connections per source address, for maxConnectionsPerAddress. */
  private readonly perAddress = new Map<string, number>();
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

  /** Bytes of memory the connections hold in unfinished frames right now. */
  get bufferedBytes(): number {
    return this.budget.held;
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
    const fromPeer = this.perAddress.get(peer) ?? 0;
    const perPeer = this.opts.maxConnectionsPerAddress;
    if (perPeer !== undefined && fromPeer >= perPeer) {
      this.events.connectionRefused?.(peer, 'max-per-address');
      raw.destroy();
      return;
    }
    this.perAddress.set(peer, fromPeer + 1);
    this.rawCount++;
    raw.once('close', () => {
      this.rawCount--;
      const left = (this.perAddress.get(peer) ?? 1) - 1;
      if (left > 0) this.perAddress.set(peer, left);
      else this.perAddress.delete(peer);
    });
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
      this.budget,
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
