#!/usr/bin/env node
// This engine as a contender, in one of the three modes:
//   --mode ack-on-receipt  the ingest path on a producer stand-in (servers/ack-on-receipt.mjs): AA
//                          after parse, accept checks and envelope, nothing stored, no Kafka
//   --mode durable         AA after Kafka acks=all holds the raw envelope; no transform
//   --mode end-to-end      durable, plus the transform worker writing Bundles to <channel>.fhir
// --workers N sets the conversion threads (default: the engine's, one per core; 0 = on the event
// loop); --role ingest|transform|all as `hl7-engine start --role` (transform: no listener, the
// port is unused).
// Started by bench/run.mjs; `{ stats: true }` answers with the group-commit totals and the
// event loop's utilisation so far, which the runner differences over its measured window.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { listenWithoutStorage } from './ack-on-receipt.mjs';
import { fail, serve } from './harness.mjs';

const root = fileURLToPath(new URL('../..', import.meta.url));
const { Engine } = await import('../../dist/src/engine/index.js');
const { loadChannelFile } = await import('../../dist/src/channel/index.js');
const { createLogger, EngineMetrics } = await import('../../dist/src/ops/index.js');

async function totals(histogram) {
  const m = await histogram.get();
  let sum = 0;
  let count = 0;
  for (const v of m.values) {
    if (v.metricName?.endsWith('_sum')) sum += v.value;
    else if (v.metricName?.endsWith('_count')) count += v.value;
  }
  return { sum, count };
}

serve(
  async ({ port, args }) => {
    const mode = args.mode ?? 'durable';
    if (!['ack-on-receipt', 'durable', 'end-to-end'].includes(mode)) throw new Error(`unknown --mode ${mode}`);
    const dir = mkdtempSync(join(tmpdir(), 'hl7-engine-bench-'));
    const file = join(dir, `${args.channel}.yaml`);
    writeFileSync(
      file,
      [
        `name: ${args.channel}`,
        'listener:',
        '  host: 127.0.0.1',
        `  port: ${port}`,
        '  maxConnections: 200',
        'accept:',
        '  messageTypes: ["ADT^*", "ORU^R01"]',
        'ack:',
        '  mode: original',
        // --dedupe-window 0: no duplicate memory to rebuild from the raw topic at start (a bench
        // that preloads a backlog would otherwise time the rebuild, not the point it measures).
        ...(args['dedupe-window'] !== undefined ? ['dedupe:', `  windowSeconds: ${Number(args['dedupe-window'])}`] : []),
        ...(mode === 'end-to-end' ? ['mapping: default'] : []),
        '',
      ].join('\n'),
    );
    const channel = loadChannelFile(file);
    const metrics = new EngineMetrics({ defaultMetrics: false });
    const logger = createLogger({ level: 'error' });
    const stats = async () => ({
      elu: performance.eventLoopUtilization(),
      batches: await totals(metrics.publishBatchRecords),
      publish: await totals(metrics.publishSeconds),
    });
    if (mode === 'ack-on-receipt') {
      const listener = await listenWithoutStorage(channel, { metrics, logger });
      return {
        stats,
        stop: async () => {
          await listener.close(2000);
          rmSync(dir, { recursive: true, force: true });
        },
      };
    }
    const engine = new Engine({
      channels: [channel],
      brokers: args.brokers ? args.brokers.split(',') : [],
      logger,
      metrics,
      transform: mode === 'end-to-end' ? { mappingsRoot: join(root, 'mappings'), ...(args.workers !== undefined ? { workers: Number(args.workers) } : {}), ...(args.nice !== undefined ? { threadNice: Number(args.nice) } : {}) } : false,
      ...(args.role ? { role: args.role } : {}),
    });
    await engine.start();
    return {
      stats,
      stop: async () => {
        await engine.stop(2000);
        rmSync(dir, { recursive: true, force: true });
      },
    };
  },
  { mode: { type: 'string' }, channel: { type: 'string' }, brokers: { type: 'string' }, workers: { type: 'string' }, nice: { type: 'string' }, role: { type: 'string' }, 'dedupe-window': { type: 'string' } },
).catch(fail);
