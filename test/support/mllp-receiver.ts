/**
 * A downstream MLLP receiver for delivery tests: it frames what arrives, hands each message to
 * the test's `answer` function and writes back the ACK that function chooses (AA, AE, AR with an
 * ERR segment, or nothing at all), MSA-2 carrying the message's MSH-10 as a receiver must. The
 * test keeps its own record of what it saw; this only does the socket and framing work that
 * test/delivery and test/ops would otherwise each write again.
 */
import net from 'node:net';
import { encodeFrame, MllpFramer, readControlId } from '../../src/mllp/index.js';

export interface ReceivedMessage {
  /** The frame's payload, as sent. */
  readonly bytes: Buffer;
  readonly controlId: string;
  /** 1-based: the n-th message this receiver got (on any connection). */
  readonly n: number;
  /** What `onConnection` returned when the socket that carried this message was accepted. */
  readonly connectionTag: unknown;
}

/** An ACK to send: MSA-1 (and an ERR segment's text, without its CR); null sends nothing. */
export type ReceiverAnswer = { readonly code: string; readonly err?: string; readonly delayMs?: number } | null;

export interface RecordingReceiverOptions {
  readonly answer: (message: ReceivedMessage) => ReceiverAnswer;
  /** Called as each connection is accepted; its result is every message's connectionTag on it. */
  readonly onConnection?: () => unknown;
}

export interface RecordingReceiver {
  readonly port: number;
  /** Connections accepted so far. */
  readonly connections: number;
  /** How many of them have closed (from either side). */
  readonly closedConnections: number;
  close(): Promise<void>;
}

/** The ACK bytes `answer` asks for, MSA-2 = the message's MSH-10. */
export function ackFrame(n: number, code: string, controlId: string, err?: string): Buffer {
  return encodeFrame(Buffer.from(`MSH|^~\\&|RCV||HL7ENGINE||20261201||ACK|K${n}|P|2.5.1\rMSA|${code}|${controlId}\r${err === undefined ? '' : `${err}\r`}`));
}

export async function startRecordingReceiver(opts: RecordingReceiverOptions): Promise<RecordingReceiver> {
  let n = 0;
  let accepted = 0;
  let closed = 0;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    const connectionTag = opts.onConnection?.();
    accepted++;
    sockets.add(socket);
    socket.on('close', () => {
      closed++;
      sockets.delete(socket);
    });
    socket.on('error', () => undefined);
    const framer = new MllpFramer({ maxFrameBytes: 1 << 20 });
    socket.on('data', (chunk: Buffer) =>
      framer.push(chunk, {
        discarded: () => undefined,
        oversize: () => undefined,
        frame: (f) => {
          const bytes = Buffer.from(f);
          const message: ReceivedMessage = { bytes, controlId: readControlId(bytes) ?? '', n: ++n, connectionTag };
          const a = opts.answer(message);
          if (a === null) return;
          const ack = ackFrame(message.n, a.code, message.controlId, a.err);
          if (a.delayMs === undefined) socket.write(ack);
          else setTimeout(() => socket.write(ack), a.delayMs);
        },
      }),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    get connections() {
      return accepted;
    },
    get closedConnections() {
      return closed;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
