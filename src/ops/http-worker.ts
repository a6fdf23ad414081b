/**
 * The operations HTTP server's own thread (started by http.ts). Accepting, parsing and answering
 * HTTP happen here, off the event loop that answers MLLP, so a flood of scrapes or idle
 * connections costs the MLLP listeners nothing but CPU time the OS shares out. What only the
 * main thread knows (the metrics registry, readiness, whether its event loop is responsive) is
 * asked for by message, single-flight, and /metrics is cached for `metricsCacheMs`.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';

export interface OpsLimits {
  /** Concurrent connections; more are dropped at accept. Prometheus needs one or two. */
  readonly maxConnections: number;
  /** A client must send its request headers within this (and a silent connection is closed after it). */
  readonly headersTimeoutMs: number;
  /** ... and the whole request within this. */
  readonly requestTimeoutMs: number;
  /** An idle keep-alive connection is closed after this. */
  readonly keepAliveTimeoutMs: number;
  /** How long one rendering of /metrics is served to every scrape (rendered at most once per period). */
  readonly metricsCacheMs: number;
}

export interface OpsWorkerInit {
  readonly host: string;
  readonly port: number;
  readonly limits: OpsLimits;
  readonly contentType: string;
}

export type OpsQuestion = 'metrics' | 'ready' | 'alive';

export type ToMain =
  | { readonly type: 'listening'; readonly address: AddressInfo }
  | { readonly type: 'listen-error'; readonly code: string }
  | { readonly type: 'ask'; readonly id: number; readonly what: OpsQuestion }
  | { readonly type: 'log'; readonly fields: Record<string, string | number>; readonly msg: string };

export type FromMain =
  | { readonly type: 'answer'; readonly id: number; readonly ok: boolean; readonly body: string; readonly ready?: boolean }
  | { readonly type: 'close' };

/** How long the main thread may take to answer before the endpoint reports it unresponsive. */
const ASK_TIMEOUT_MS = 5_000;

const port = parentPort;
if (!port) throw new Error('http-worker.js runs as a worker thread of the engine');
const init = workerData as OpsWorkerInit;
const { limits } = init;

type Answer = { ok: boolean; body: string; ready?: boolean };
let nextId = 1;
const waiting = new Map<number, (a: Answer) => void>();
const inFlight = new Map<OpsQuestion, Promise<Answer>>();

/** Asks the main thread; concurrent askers of the same question share one message. */
function ask(what: OpsQuestion): Promise<Answer> {
  let p = inFlight.get(what);
  if (!p) {
    const id = nextId++;
    p = new Promise<Answer>((resolve) => {
      const timer = setTimeout(() => {
        waiting.delete(id);
        resolve({ ok: false, body: 'the engine’s main thread did not answer in time' });
      }, ASK_TIMEOUT_MS);
      waiting.set(id, (a) => {
        clearTimeout(timer);
        resolve(a);
      });
    }).finally(() => inFlight.delete(what));
    inFlight.set(what, p);
    port!.postMessage({ type: 'ask', id, what } satisfies ToMain);
  }
  return p;
}

let cached: { body: Buffer; at: number } | null = null;
async function metricsBody(): Promise<Buffer | null> {
  if (cached && performance.now() - cached.at < limits.metricsCacheMs) return cached.body;
  const a = await ask('metrics');
  if (!a.ok) return null;
  // Concurrent scrapes resolve together: the first one stores, the rest reuse.
  if (!cached || performance.now() - cached.at >= limits.metricsCacheMs) cached = { body: Buffer.from(a.body), at: performance.now() };
  return cached.body;
}

function pathOf(req: IncomingMessage): string {
  const url = req.url ?? '/';
  const q = url.indexOf('?');
  return q === -1 ? url : url.slice(0, q);
}

function send(res: ServerResponse, status: number, contentType: string, body: string | Buffer): void {
  res.writeHead(status, { 'content-type': contentType, 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store' });
  res.end(res.req.method === 'HEAD' ? undefined : body);
}

async function route(req: IncomingMessage, res: ServerResponse): Promise<void> {
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.setHeader('allow', 'GET, HEAD');
    send(res, 405, 'text/plain; charset=utf-8', 'only GET and HEAD\n');
    return;
  }
  switch (pathOf(req)) {
    case '/metrics': {
      const body = await metricsBody();
      if (body) send(res, 200, init.contentType, body);
      else send(res, 500, 'text/plain; charset=utf-8', 'internal error: metrics could not be rendered\n');
      return;
    }
    case '/healthz': {
      // "The process runs" means its main event loop answers, not just this thread.
      const a = await ask('alive');
      send(res, a.ok ? 200 : 503, 'text/plain; charset=utf-8', a.ok ? 'ok\n' : `${a.body}\n`);
      return;
    }
    case '/readyz': {
      const a = await ask('ready');
      send(res, a.ok && a.ready ? 200 : 503, 'application/json', a.ok ? a.body : `${JSON.stringify({ ready: false, checks: { readiness: false } })}\n`);
      return;
    }
    default:
      send(res, 404, 'text/plain; charset=utf-8', 'not found: try /metrics, /healthz or /readyz\n');
  }
}

const server = createServer(
  { connectionsCheckingInterval: 1_000, headersTimeout: limits.headersTimeoutMs, requestTimeout: limits.requestTimeoutMs, keepAliveTimeout: limits.keepAliveTimeoutMs },
  (req, res) => {
    void route(req, res).catch((err: unknown) => {
      port.postMessage({ type: 'log', fields: { path: pathOf(req), err: err instanceof Error ? err.name : 'unknown' }, msg: 'ops endpoint failed' } satisfies ToMain);
      if (!res.headersSent) send(res, 500, 'text/plain; charset=utf-8', 'internal error\n');
      else res.destroy();
    });
  },
);
server.maxConnections = limits.maxConnections;
// A connection that never sends a request is covered by no request timeout: close it when silent.
server.on('connection', (socket) => socket.setTimeout(limits.headersTimeoutMs, () => socket.destroy()));
let dropped = 0;
server.on('drop', () => {
  // Reported once per burst, not per connection: the log must not become the flood.
  if (dropped++ === 0) {
    setTimeout(() => {
      port.postMessage({ type: 'log', fields: { dropped, maxConnections: limits.maxConnections }, msg: 'ops HTTP connections refused: too many open' } satisfies ToMain);
      dropped = 0;
    }, 10_000).unref();
  }
});

port.on('message', (m: FromMain) => {
  if (m.type === 'answer') {
    const w = waiting.get(m.id);
    waiting.delete(m.id);
    w?.({ ok: m.ok, body: m.body, ...(m.ready !== undefined ? { ready: m.ready } : {}) });
  } else if (m.type === 'close') {
    server.close(() => port.close());
    server.closeAllConnections();
  }
});

server.once('error', (err: NodeJS.ErrnoException) => port.postMessage({ type: 'listen-error', code: err.code ?? err.message } satisfies ToMain));
server.listen({ host: init.host, port: init.port }, () => {
  server.on('error', (err: NodeJS.ErrnoException) => port.postMessage({ type: 'log', fields: { code: err.code ?? 'unknown' }, msg: 'ops HTTP server error' } satisfies ToMain));
  port.postMessage({ type: 'listening', address: server.address() as AddressInfo } satisfies ToMain);
});
