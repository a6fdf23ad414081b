export { GroupCommitProducer, PublishTimeoutError, type OutRecord, type StoredAt } from './producer.js';
export { createKafka, ensureTopics, brokersFromEnv, type TopicSpec } from './client.js';
export { recoverDedupe } from './dedupe-recovery.js';
export { LocalKafka, assembleKafka, KAFKA_VERSION } from './local-broker.js';
