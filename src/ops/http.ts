/**
 * The operations HTTP server: /metrics for Prometheus, /healthz for "the process runs" and
 * /readyz for "send traffic here" (listeners bound and Kafka reachable). One per process,
 * independent of the channels, bound to loopback unless METRICS_HOST says otherwise because
 * metrics reveal traffic volumes per feed.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { Registry } from 'prom-client';
import type { Logger } from './logger.js';
import type { ReadinessCheck } from './readiness.js';

export const DEFAULT_METRICS_PORT = 9464;
export const DEFAULT_METRICS_HOST = '127.0.0.1';

/**
 * Limits that keep a flood of HTTP clients (a scrape storm, thousands of idle connections) from
 * costing the MLLP listeners, which share this process's event loop.
 */
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

export const OPS_LIMITS: OpsLimits = Object.freeze({
  maxConnections: 64,
  headersTimeoutMs: 5_000,
  requestTimeoutMs: 10_000,
  keepAliveTimeoutMs: 5_000,
  metricsCacheMs: 1_000,
});

export interface OpsServerOptions {
  readonly registry: Registry;
  /** Must settle within a few seconds (the engine's probe has its own timeout). */
  readonly readiness: ReadinessCheck;
  readonly host?: string;
  readonly port?: number;
  readonly logger?: Logger;
  /** Defaults: OPS_LIMITS; METRICS_MAX_CONNECTIONS overrides maxConnections. */
  readonly limits?: Partial<OpsLimits>;
}

export interface OpsServer {
  readonly address: AddressInfo;
  /** Base URL, e.g. http://127.0.0.1:9464 */
  readonly url: string;
  close(): Promise<void>;
}

/** METRICS_HOST / METRICS_PORT, validated so a typo fails at start rather than binding somewhere odd. */
export function opsAddressFromEnv(env: NodeJS.ProcessEnv = process.env): { host: string; port: number } {
  const host = env['METRICS_HOST']?.trim() || DEFAULT_METRICS_HOST;
  const rawPort = env['METRICS_PORT']?.trim();
  if (!rawPort) return { host, port: DEFAULT_METRICS_PORT };
  const port = Number(rawPort);
  if (!/^\d+$/.test(rawPort) || port > 65535) {
    throw new Error(`METRICS_PORT must be a TCP port number 0-65535 (0 picks a free one), got "${rawPort}"`);
  }
  return { host, port };
}

export async function startOpsServer(opts: OpsServerOptions): Promise<OpsServer> {
  const fromEnv = opts.host === undefined || opts.port === undefined ? opsAddressFromEnv() : null;
  const host = opts.host ?? fromEnv!.host;
  const port = opts.port ?? fromEnv!.port;
  const { registry, readiness, logger } = opts;
  const envMax = process.env['METRICS_MAX_CONNECTIONS']?.trim();
  if (envMax && !/^[1-9]\d*$/.test(envMax)) throw new Error(`METRICS_MAX_CONNECTIONS must be a positive whole number, got "${envMax}"`);
  const limits: OpsLimits = { ...OPS_LIMITS, ...(envMax ? { maxConnections: Number(envMax) } : {}), ...opts.limits };

  // One rendering serves every scrape for metricsCacheMs, and concurrent scrapes share the one in
  // progress: a scrape costs the event loop ~5 ms, so 500 concurrent ones rendered each would
  // hold MLLP answers back for seconds.
  let cached: { body: Buffer; at: number } | null = null;
  let rendering: Promise<Buffer> | null = null;
  const metricsBody = (): Promise<Buffer> => {
    if (cached && performance.now() - cached.at < limits.metricsCacheMs) return Promise.resolve(cached.body);
    rendering ??= (async () => {
      try {
        // Prometheus only ever calls /metrics, so gauges the readiness probes set (hl7_kafka_up)
        // are refreshed here too; the probe caches, so this costs nothing most scrapes.
        await readiness().catch(() => undefined);
        const body = Buffer.from(await registry.metrics());
        cached = { body, at: performance.now() };
        return body;
      } finally {
        rendering = null;
      }
    })();
    return rendering;
  };

  const server = createServer({ connectionsCheckingInterval: 1_000, headersTimeout: limits.headersTimeoutMs, requestTimeout: limits.requestTimeoutMs, keepAliveTimeout: limits.keepAliveTimeoutMs }, (req, res) => {
    void route(req, res).catch((err: unknown) => {
      logger?.error({ path: pathOf(req), err: err instanceof Error ? err.name : 'unknown' }, 'ops endpoint failed');
      if (!res.headersSent) send(res, 500, 'text/plain; charset=utf-8', 'internal error\n');
      else res.destroy();
    });
  });

  async function route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('allow', 'GET, HEAD');
      send(res, 405, 'text/plain; charset=utf-8', 'only GET and HEAD\n');
      return;
    }
    switch (pathOf(req)) {
      case '/metrics':
        send(res, 200, registry.contentType, await metricsBody());
        return;
      case '/healthz':
        send(res, 200, 'text/plain; charset=utf-8', 'ok\n');
        return;
      case '/readyz': {
        const r = await readiness().catch(() => ({ ready: false, checks: { readiness: false } }));
        send(res, r.ready ? 200 : 503, 'application/json', `${JSON.stringify({ ready: r.ready, checks: r.checks })}\n`);
        return;
      }
      default:
        send(res, 404, 'text/plain; charset=utf-8', 'not found: try /metrics, /healthz or /readyz\n');
    }
  }

  server.maxConnections = limits.maxConnections;
  // A connection that never sends a request is not covered by the request timeouts.
  server.on('connection', (socket) => socket.setTimeout(limits.headersTimeoutMs, () => socket.destroy()));
  let dropped = 0;
  server.on('drop', () => {
    // Logged once per burst, not per connection: the log must not become the flood.
    if (dropped++ === 0) setTimeout(() => {
      logger?.warn({ dropped, maxConnections: limits.maxConnections }, 'ops HTTP connections refused: too many open');
      dropped = 0;
    }, 10_000).unref();
  });

  await new Promise<void>((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException) => {
      reject(
        new Error(
          `ops HTTP server cannot listen on ${host}:${port} (${err.code ?? err.message}); set METRICS_PORT/METRICS_HOST to a free address`,
        ),
      );
    };
    server.once('error', onError);
    server.listen({ host, port }, () => {
      server.off('error', onError);
      resolve();
    });
  });
  server.on('error', (err: NodeJS.ErrnoException) => logger?.error({ code: err.code }, 'ops HTTP server error'));

  const address = server.address() as AddressInfo;
  const urlHost = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return {
    address,
    url: `http://${urlHost}:${address.port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
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
