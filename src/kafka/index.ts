export { GroupCommitProducer, PublishTimeoutError, type OutRecord, type StoredAt } from './producer.js';
export { createKafka, ensureTopics, brokersFromEnv, type TopicSpec } from './client.js';
export { recoverDedupe } from './dedupe-recovery.js';
export { readTopicRange, topicBounds, type TopicRecord, type TopicBounds, type Offsets, type ReadRangeOptions } from './read-range.js';
export { loadDevBroker, DevBrokerError, type DevBroker } from './dev-broker.js';
