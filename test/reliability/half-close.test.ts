/**
 * A sender that half-closes its connection right after its frame (write, shutdown(SHUT_WR), read
 * the answer: what `printf … | nc` and some batch uploaders do) must still get its answer. The
 * engine used to close its own side at the peer's FIN, dropping the AA of a message it had
 * already stored (the sender then resends, or worse, reports a failure) and the AR of a frame it
 * had already dead-lettered. Found by the flood test (oversize frames sent whole, then FIN).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { encodeFrame } from '../../src/mllp/index.js';
import { freePort } from '../support/net.js';
import { startEngine, uniqueChannel, type TestEngine } from '../support/engine.js';
import { readAck } from '../support/mllp-client.js';
import { adtFor } from '../support/reliability.js';

let te: TestEngine;

before(async () => {
  te = await startEngine(`name: ${uniqueChannel('halfclose')}\nlistener:\n  port: ${await freePort()}\n  maxFrameBytes: 4096\nack:\n  mode: original\n`);
});

after(async () => {
  await te.stop();
});

/** Writes the bytes, half-closes, and returns everything the engine sent before it closed. */
function sendThenShutdown(port: number, bytes: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const s = connect({ host: '127.0.0.1', port, allowHalfOpen: true });
    s.on('data', (c: Buffer) => chunks.push(c));
    s.on('error', reject);
    s.on('end', () => s.end());
    s.on('close', () => resolve(Buffer.concat(chunks)));
    s.once('connect', () => s.end(bytes));
    setTimeout(() => s.destroy(), 15_000);
  });
}

function onlyAnswer(bytes: Buffer): Buffer {
  const start = bytes.indexOf(0x0b);
  const end = bytes.indexOf(0x1c);
  assert.ok(start >= 0 && end > start, `no MLLP answer before the engine closed (${bytes.length} bytes received)`);
  return bytes.subarray(start + 1, end);
}

test('a message followed at once by the sender’s FIN is answered AA before the engine closes', async () => {
  const answer = readAck(onlyAnswer(await sendThenShutdown(te.port, encodeFrame(adtFor('HALF-1')))));
  assert.equal(answer.code, 'AA');
  assert.equal(answer.controlId, 'HALF-1');
});

test('two pipelined messages followed by FIN are both answered, in order', async () => {
  const got = await sendThenShutdown(te.port, Buffer.concat([encodeFrame(adtFor('HALF-2')), encodeFrame(adtFor('HALF-3'))]));
  const frames = got.toString('latin1').split('\x1c\r').filter((f) => f.includes('MSA'));
  assert.deepEqual(
    frames.map((f) => readAck(Buffer.from(f.slice(f.indexOf('\x0b') + 1), 'latin1'))).map((a) => [a.code, a.controlId]),
    [
      ['AA', 'HALF-2'],
      ['AA', 'HALF-3'],
    ],
  );
});

test('a whole oversize frame followed by FIN is answered AR (its head is dead-lettered) before the engine closes', async () => {
  const frame = encodeFrame(Buffer.concat([adtFor('HALF-BIG'), Buffer.alloc(6000, 0x41)]));
  const answer = readAck(onlyAnswer(await sendThenShutdown(te.port, frame)));
  assert.equal(answer.code, 'AR');
  assert.equal(answer.controlId, 'HALF-BIG');
});
