/** Starts the real engine (listeners + Kafka producer) on a channel written as YAML, for tests. */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { Writable } from 'node:stream';
import { loadChannelFile } from '../../src/channel/index.js';
import type { ChannelConfig } from '../../src/channel/index.js';
import { Engine } from '../../src/engine/index.js';
import { createLogger, EngineMetrics } from '../../src/ops/index.js';
import { brokers } from './kafka.js';

export interface TestEngine {
  readonly engine: Engine;
  readonly channel: ChannelConfig;
  readonly port: number;
  readonly metrics: EngineMetrics;
  /** Everything the engine logged, as text (for PHI checks). */
  readonly logs: () => string;
  stop(): Promise<void>;
}

/** A unique channel name, so every test has its own topics. */
export function uniqueChannel(prefix: string): string {
  return `${prefix}-${randomUUID().slice(0, 8)}`;
}

export async function startEngine(yamlBody: string, opts: { brokers?: string[]; logLevel?: string } = {}): Promise<TestEngine> {
  const dir = mkdtempSync(join(tmpdir(), 'hl7-engine-test-'));
  const file = join(dir, 'channel.yaml');
  writeFileSync(file, yamlBody);
  const channel = loadChannelFile(file);
  let captured = '';
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      captured += chunk.toString();
      cb();
    },
  });
  const logger = createLogger({ level: opts.logLevel ?? 'warn', destination: sink });
  const metrics = new EngineMetrics({ defaultMetrics: false });
  const engine = new Engine({ channels: [channel], brokers: opts.brokers ?? brokers(), logger, metrics });
  await engine.start();
  const port = engine.channels[0]!.listener.address.port;
  return { engine, channel, port, metrics, logs: () => captured, stop: () => engine.stop(2000) };
}
