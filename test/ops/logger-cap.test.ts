/** Log lines stay short whatever a sender sends: capForLog at call sites, and a cap on every field. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { capForLog, createLogger, LOG_FIELD_CAP } from '../../src/ops/index.js';

function capture(): { logger: ReturnType<typeof createLogger>; lines: () => string[] } {
  let text = '';
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      text += chunk.toString();
      cb();
    },
  });
  return { logger: createLogger({ level: 'info', destination: sink }), lines: () => text.split('\n').filter(Boolean) };
}

test('capForLog keeps 64 characters and says how long the value really was', () => {
  assert.equal(capForLog('MSG00001'), 'MSG00001');
  assert.equal(capForLog('x'.repeat(100_000)), `${'x'.repeat(64)}…(100000 bytes)`);
  assert.equal(capForLog(undefined), null);
});

test('a field nobody capped is cut at LOG_FIELD_CAP, in the message string too', () => {
  const { logger, lines } = capture();
  const huge = 'Z'.repeat(1024 * 1024);
  logger.info({ channel: 'adt', controlId: huge, nested: { reason: huge } }, `dead-lettered ${huge}`);
  const [line] = lines();
  assert.ok(line !== undefined && line.length < 4 * LOG_FIELD_CAP, `log line of ${line?.length} characters`);
  const parsed = JSON.parse(line) as { controlId: string; nested: { reason: string }; msg: string };
  assert.ok(parsed.controlId.endsWith('…(1048576 bytes)'));
  assert.ok(parsed.nested.reason.endsWith('…(1048576 bytes)'));
  assert.ok(parsed.msg.startsWith('dead-lettered ZZZ') && parsed.msg.endsWith('…(1048590 bytes)'));
});
