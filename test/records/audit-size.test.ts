/**
 * A group decision is one audit record listing every dead letter it applies to. The channel
 * schema caps review.maxGroupSize so that record always fits in one Kafka message.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { newAuditRecord, decisionTargets } from '../../src/records/index.js';
import { REPO_DIR } from '../support/repo.js';

/** Kafka's default message.max.bytes (1 MiB plus the batch header allowance). */
const KAFKA_DEFAULT_MAX_MESSAGE = 1_048_588;

test('the largest group decision the channel schema allows, on the longest topic name Kafka allows, fits in one Kafka message', () => {
  const schema = JSON.parse(readFileSync(join(REPO_DIR, 'schemas', 'channel.schema.json'), 'utf8'));
  const max = schema.properties.review.properties.maxGroupSize.maximum as number;
  assert.equal(max, 2000);
  const topic = `${'c'.repeat(245)}.dlq`;
  assert.equal(topic.length, 249, 'Kafka topic names are at most 249 characters');
  const targets = Array.from({ length: max }, (_, i) => ({ topic, partition: 99_999, offset: String(999_999_999_999_999_999n - BigInt(i)) }));
  const record = newAuditRecord({
    kind: 'dlq-decision',
    channel: 'c'.repeat(245),
    reason: 'r'.repeat(2000),
    operator: 'o'.repeat(200),
    outcome: 'recorded',
    decision: { action: 'assign', assignee: 'a'.repeat(2000), targets, group: { category: 'validation', cause: 'x'.repeat(2000) } },
  });
  assert.equal(decisionTargets(record.decision!).length, max);
  const bytes = Buffer.byteLength(JSON.stringify(record));
  assert.ok(bytes < KAFKA_DEFAULT_MAX_MESSAGE, `${bytes} bytes`);
});
