/**
 * The development Kafka broker: assembled from Maven Central jars, run on 127.0.0.1, one instance
 * per checkout. Used by `hl7-engine start|dlq|replay` when $KAFKA_BROKERS is unset (loaded on
 * demand by src/kafka/dev-broker.ts), scripts/kafka-local.mjs, the test runner and the benchmarks.
 */
import { LocalKafka } from './broker.js';
import { resolveInstanceName } from './instance-name.js';

export { LocalKafka, type LocalKafkaOptions } from './broker.js';
export { assembleKafka, defaultCacheDir, KAFKA_VERSION } from './assemble.js';
export { freePort } from './net.js';
export { checkoutRoot, defaultInstanceName, resolveInstanceName, INSTANCE_ENV } from './instance-name.js';

/** This checkout's development broker (or the one $HL7_KAFKA_INSTANCE names). */
export function devBroker(env: NodeJS.ProcessEnv = process.env): LocalKafka {
  return new LocalKafka({ name: resolveInstanceName({ env }) });
}
