// What every contender process shares: it is forked by bench/run.mjs with an IPC channel, gets
// its port on the command line, says `{ ready }` once it listens, and stops on `{ stop: true }`.
// The runner reads CPU time and peak RSS from /proc, so a contender only has to serve.
// `{ profile: 'start' }` / `{ profile: 'stop', file }` take a V8 CPU profile of exactly the
// runner's measured window (node --cpu-prof would also catch start-up and module loading).
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { parseArgs } from 'node:util';

/**
 * @param {(o: { port: number, args: Record<string, string | undefined> }) => Promise<{ stop: () => Promise<void>, stats?: () => Promise<object> }>} start
 * @param {Record<string, { type: 'string' }>} [extra] further --options the contender takes
 */
export async function serve(start, extra = {}) {
  const { values } = parseArgs({ options: { port: { type: 'string' }, ...extra }, strict: true });
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 1) throw new Error('--port is required');
  const server = await start({ port, args: values });
  let session = null;
  process.on('message', async (m) => {
    if (m?.stats) process.send({ stats: server.stats ? await server.stats() : {} });
    if (m?.profile === 'start' && !session) {
      session = new Session();
      session.connect();
      await session.post('Profiler.enable');
      await session.post('Profiler.setSamplingInterval', { interval: 200 });
      await session.post('Profiler.start');
    }
    if (m?.profile === 'stop' && session) {
      const { profile } = await session.post('Profiler.stop');
      session.disconnect();
      session = null;
      writeFileSync(m.file, JSON.stringify(profile));
      process.send({ profiled: m.file });
    }
    if (m?.stop) {
      await server.stop();
      process.disconnect?.();
      process.exit(0);
    }
  });
  process.send?.({ ready: true, port });
}

export function fail(err) {
  // Contenders see only generated bench messages, but the rule stays: no message text in errors.
  console.error(`contender failed: ${err instanceof Error ? `${err.name}: ${err.message}` : String(err)}`);
  process.exit(1);
}

/**
 * A raw TCP contender: listens on 127.0.0.1:port, hands each socket (no Nagle) to onSocket, and
 * stops by destroying the open sockets before closing the server.
 * @param {number} port
 * @param {(socket: import('node:net').Socket) => void} onSocket
 */
export async function serveTcp(port, onSocket) {
  const { createServer } = await import('node:net');
  const sockets = new Set();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.setNoDelay(true);
    socket.on('error', () => socket.destroy());
    socket.on('close', () => sockets.delete(socket));
    onSocket(socket);
  });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', resolve);
  });
  return {
    stop: () =>
      new Promise((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
