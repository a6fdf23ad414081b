/**
 * The operations HTTP server: /metrics for Prometheus, /healthz for "the process runs" and
 * /readyz for "send traffic here" (listeners bound and Kafka reachable). One per process,
 * independent of the channels, bound to loopback unless METRICS_HOST says otherwise because
 * metrics reveal traffic volumes per feed.
 */
import { Worker } from 'node:worker_threads';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import type { Logger } from './logger.js';
import type { ReadinessCheck } from './readiness.js';
import type { FromMain, OpsLimits, OpsQuestion, OpsWorkerInit, ToMain } from './http-worker.js';

export type { OpsLimits } from './http-worker.js';

export const DEFAULT_METRICS_PORT = 9464;
export const DEFAULT_METRICS_HOST = '127.0.0.1';

/**
 * Limits that keep a flood of HTTP clients (a scrape storm, thousands of idle connections) from
 * costing the MLLP listeners, which share this process's event loop.
 */

export const OPS_LIMITS: OpsLimits = Object.freeze({
  maxConnections: 64,
  headersTimeoutMs: 5_000,
  requestTimeoutMs: 10_000,
  keepAliveTimeoutMs: 5_000,
  metricsCacheMs: 1_000,
});

export interface OpsServerOptions {
  /** What /metrics renders: a registry, or one merged from several processes' (TransformChild). */
  readonly registry: Pick<Registry, 'contentType' | 'metrics'>;
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

  const init: OpsWorkerInit = { host, port, limits, contentType: registry.contentType };
  const worker = new Worker(new URL('./http-worker.js', import.meta.url), { workerData: init });
  const answer = (id: number, ok: boolean, body: string, ready?: boolean): void =>
    worker.postMessage({ type: 'answer', id, ok, body, ...(ready !== undefined ? { ready } : {}) } satisfies FromMain);

  const address = await new Promise<AddressInfo>((resolve, reject) => {
    const onExit = (code: number) => reject(new Error(`ops HTTP server thread stopped during start (exit code ${code})`));
    worker.once('error', reject);
    worker.once('exit', onExit);
    worker.on('message', (m: ToMain) => {
      switch (m.type) {
        case 'listening':
          worker.off('error', reject);
          worker.off('exit', onExit);
          resolve(m.address);
          return;
        case 'listen-error':
          worker.off('exit', onExit);
          void worker.terminate();
          reject(new Error(`ops HTTP server cannot listen on ${host}:${port} (${m.code}); set METRICS_PORT/METRICS_HOST to a free address`));
          return;
        case 'log':
          logger?.warn(m.fields, m.msg);
          return;
        case 'ask':
          void questions(m.id, m.what);
      }
    });
  });
  worker.on('error', (err) => logger?.error({ err: err.name }, 'ops HTTP server thread failed; /metrics, /healthz and /readyz are down'));

  async function questions(id: number, what: OpsQuestion): Promise<void> {
    try {
      if (what === 'alive') answer(id, true, 'ok');
      else if (what === 'ready') {
        const r = await readiness().catch(() => ({ ready: false, checks: { readiness: false } }));
        answer(id, true, `${JSON.stringify({ ready: r.ready, checks: r.checks })}\n`, r.ready);
      } else {
        // Prometheus only ever calls /metrics, so gauges the readiness probes set (hl7_kafka_up)
        // are refreshed here too; the probe caches, so this costs nothing most scrapes. The
        // thread caches the text and asks at most once per metricsCacheMs: rendering costs this
        // event loop ~5 ms, so rendering per scrape would hold MLLP answers back under a flood.
        await readiness().catch(() => undefined);
        answer(id, true, await registry.metrics());
      }
    } catch (err) {
      logger?.error({ path: what, err: err instanceof Error ? err.name : 'unknown' }, 'ops endpoint failed');
      answer(id, false, 'internal error');
    }
  }

  const urlHost = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return {
    address,
    url: `http://${urlHost}:${address.port}`,
    close: async () => {
      const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
      worker.postMessage({ type: 'close' } satisfies FromMain);
      const timer = setTimeout(() => void worker.terminate(), 5_000);
      await exited;
      clearTimeout(timer);
    },
  };
}
