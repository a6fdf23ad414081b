/**
 * What the operator commands (`dlq`, `replay`) share: output streams, exit codes, finding Kafka
 * and the channels the way `start` does.
 */
import { resolve } from 'node:path';
import type { Kafka } from 'kafkajs';
import { CHANNEL_DEFAULTS, loadChannels, type ChannelConfig } from '../channel/index.js';
import { dlqTopicOf, loadDestinations, type Destination } from '../delivery/index.js';
import { brokersFromEnv, createKafka } from '../kafka/client.js';
import { loadDevBroker, DevBrokerError } from '../kafka/dev-broker.js';
import { createLogger } from '../ops/logger.js';

export interface CommandIo {
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
}

/** 0 done, 1 runtime failure (Kafka, nothing matched, messages failed again), 2 usage or config. */
export type ExitCode = 0 | 1 | 2;

export class UsageError extends Error {}

export interface CommandDeps {
  /** A Kafka client to use instead of $KAFKA_BROKERS (tests). */
  readonly kafka?: Kafka;
  readonly env?: NodeJS.ProcessEnv;
  readonly now?: () => Date;
}

/**
 * $KAFKA_BROKERS, else this checkout's local broker `start` runs when that is unset (if it is up). Kafka's
 * own logs go to stderr at warn, so stdout stays the command's output.
 */
export async function kafkaFor(deps: CommandDeps): Promise<Kafka> {
  if (deps.kafka) return deps.kafka;
  const env = deps.env ?? process.env;
  let brokers = brokersFromEnv(env['KAFKA_BROKERS']);
  if (!brokers) {
    const local = await loadDevBroker(env).catch((err: unknown) => {
      throw err instanceof DevBrokerError ? new UsageError(err.message) : err;
    });
    if (!(await local.running())) {
      throw new UsageError(
        `KAFKA_BROKERS is unset and the local Kafka ${local.name} that \`hl7-engine start\` runs for this checkout is not running; set KAFKA_BROKERS=host:port`,
      );
    }
    brokers = [local.bootstrap];
  }
  return createKafka(brokers, createLogger({ level: 'warn', destination: process.stderr }), 'hl7-engine-operator');
}

/** The channels of DIR; the named one only when `name` is given. */
export function channelsFor(dir: string | undefined, name: string | undefined): ChannelConfig[] {
  const channelsDir = resolve(dir ?? 'channels');
  const { channels, errors } = loadChannels(channelsDir);
  if (errors.length > 0) throw new UsageError(`${errors.map((e) => e.message).join('\n')}\n${errors.length} error(s) in ${channelsDir}`);
  if (name === undefined) {
    if (channels.length === 0) throw new UsageError(`no channel files (*.yaml) in ${channelsDir}`);
    return channels;
  }
  const c = channels.find((x) => x.name === name);
  if (!c) throw new UsageError(`no channel named ${name} in ${channelsDir} (channels: ${channels.map((x) => x.name).join(', ') || 'none'})`);
  return [c];
}

export function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** The destinations of DIR (default ./destinations); the named one only when `name` is given. */
export function destinationsFor(dir: string | undefined, name: string | undefined): Destination[] {
  const destinationsDir = resolve(dir ?? 'destinations');
  const { destinations, errors } = loadDestinations(destinationsDir);
  if (errors.length > 0) throw new UsageError(`${errors.map((e) => e.message).join('\n')}\n${errors.length} error(s) in ${destinationsDir}`);
  if (name === undefined) return destinations;
  const d = destinations.find((x) => x.name === name);
  if (!d) throw new UsageError(`no destination named ${name} in ${destinationsDir} (destinations: ${destinations.map((x) => x.name).join(', ') || 'none'})`);
  return [d];
}

/**
 * A dead-letter queue an operator works on: a channel's (ingest and transform failures) or a
 * write-back destination's (records its receiver refused). Decisions and replays on either are
 * audit records whose `channel` is the queue's name, the same way.
 */
export interface DlqQueue {
  readonly kind: 'channel' | 'destination';
  readonly name: string;
  readonly dlqTopic: string;
  readonly maxGroupSize: number;
}

/** --destination D picks one destination's queue; otherwise the channels' (one with --channel C). */
export function queuesFor(v: { channel?: string; channels?: string; destination?: string; destinations?: string }): DlqQueue[] {
  if (v.destination !== undefined) {
    return destinationsFor(v.destinations, v.destination).map((d) => ({ kind: 'destination', name: d.name, dlqTopic: dlqTopicOf(d), maxGroupSize: CHANNEL_DEFAULTS.reviewMaxGroupSize }));
  }
  return channelsFor(v.channels, v.channel).map((c) => ({ kind: 'channel', name: c.name, dlqTopic: c.topics.dlq, maxGroupSize: c.review.maxGroupSize }));
}
