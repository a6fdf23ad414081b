/**
 * The console assembled: index file, indexer, queries, authenticator and API server. Used by
 * `hl7-engine console` (alone) and `hl7-engine start --console` (beside the listeners).
 */
import { resolve } from 'node:path';
import type { Kafka } from 'kafkajs';
import type { Registry } from 'prom-client';
import { Authenticator, defaultUsersPath, TrustedProxy, type TrustedProxyConfig } from '../auth/index.js';
import type { ChannelConfig } from '../channel/index.js';
import { dlqTopicOf, type Destination } from '../delivery/index.js';
import type { Logger } from '../ops/index.js';
import { ChannelOverviews, type EngineView } from './channels.js';
import { IndexStore } from './index-store.js';
import { Indexer } from './indexer.js';
import { ConsoleMetrics } from './metrics.js';
import { ConsoleQueries } from './queries.js';
import { ConsoleServer } from './server.js';

export interface ConsoleOptions {
  readonly kafka: Kafka;
  readonly channels: readonly ChannelConfig[];
  /** Write-back destinations: their dead letters are indexed, queued and replayed too. */
  readonly destinations?: readonly Destination[];
  readonly logger: Logger;
  readonly host?: string;
  readonly port?: number;
  readonly indexFile?: string;
  readonly usersFile?: string;
  readonly tls?: { readonly key: Buffer; readonly cert: Buffer };
  readonly mappingsRoot?: string;
  readonly checkpointDir?: string;
  readonly auditTopic?: string;
  readonly registry?: Registry;
  /** The engine this console runs beside (start --console): listener state and connections. */
  readonly engine?: EngineView;
  readonly now?: () => Date;
  /** Believe this reverse proxy's identity header (off when absent). */
  readonly trustedProxy?: TrustedProxyConfig;
}

/** $HL7_ENGINE_STATE/console-index.sqlite, else ./.hl7-engine/console-index.sqlite. */
export function defaultIndexPath(env: NodeJS.ProcessEnv = process.env): string {
  return resolve(env['HL7_ENGINE_STATE'] ?? '.hl7-engine', 'console-index.sqlite');
}

export interface RunningConsole {
  readonly url: string;
  readonly indexer: Indexer;
  readonly queries: ConsoleQueries;
  readonly auth: Authenticator;
  readonly metrics: ConsoleMetrics;
  stop(): Promise<void>;
}

export async function startConsole(opts: ConsoleOptions): Promise<RunningConsole> {
  // Checked before anything opens: a wrong proxy setting is a configuration error, not a 401 later.
  const trustedProxy = opts.trustedProxy ? new TrustedProxy(opts.trustedProxy) : undefined;
  const store = new IndexStore(opts.indexFile ?? defaultIndexPath());
  const metrics = new ConsoleMetrics(opts.registry);
  const indexer = new Indexer({
    kafka: opts.kafka,
    store,
    channels: opts.channels,
    destinations: (opts.destinations ?? []).map((d) => ({ name: d.name, dlqTopic: dlqTopicOf(d) })),
    ...(opts.auditTopic ? { auditTopic: opts.auditTopic } : {}),
    onError: (err) => opts.logger.error({ err: err instanceof Error ? err.message : String(err) }, 'console indexer stopped; kafkajs restarts it'),
  });
  const queries = new ConsoleQueries(store, opts.channels, opts.now, opts.destinations ?? []);
  metrics.readQueueFrom(() => queries.queueFigures());
  const auth = new Authenticator(opts.usersFile ?? defaultUsersPath());
  const overviews = new ChannelOverviews(opts.kafka, opts.channels, queries, opts.engine, opts.now);
  const server = new ConsoleServer({
    kafka: opts.kafka,
    channels: opts.channels,
    ...(opts.destinations ? { destinations: opts.destinations } : {}),
    queries,
    indexer,
    overviews,
    auth,
    metrics,
    logger: opts.logger,
    ...(opts.host ? { host: opts.host } : {}),
    ...(opts.port !== undefined ? { port: opts.port } : {}),
    ...(opts.tls ? { tls: opts.tls } : {}),
    ...(opts.mappingsRoot ? { mappingsRoot: opts.mappingsRoot } : {}),
    ...(opts.checkpointDir ? { checkpointDir: opts.checkpointDir } : {}),
    ...(opts.auditTopic ? { auditTopic: opts.auditTopic } : {}),
    ...(trustedProxy ? { trustedProxy } : {}),
  });
  try {
    await indexer.start();
    const url = await server.start();
    return {
      url,
      indexer,
      queries,
      auth,
      metrics,
      stop: async () => {
        await server.close();
        await overviews.close();
        await indexer.stop();
        store.close();
      },
    };
  } catch (err) {
    await server.close().catch(() => undefined);
    await overviews.close();
    await indexer.stop().catch(() => undefined);
    store.close();
    throw err;
  }
}
