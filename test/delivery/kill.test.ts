/**
 * `hl7-engine deliver` killed with SIGKILL mid-delivery, then started again: the Kafka offset is
 * the queue, so nothing is lost. 3 patients × 8 records on 3 partitions go to a receiver of ours
 * that records every frame; it leaves the 12th frame unanswered and the test kills the process
 * right then. After the restart every record is AA'd at least once, a record sent twice carries
 * the same MSH-10 both times, and each patient's records reach the receiver in order within each
 * run, the second run starting no later than where the first stopped (the resend of what was
 * sent but not committed).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseMessage } from '../../src/hl7/index.js';
import { ensureTopics } from '../../src/kafka/index.js';
import { brokers, testKafka } from '../support/kafka.js';
import { startRecordingReceiver } from '../support/mllp-receiver.js';
import { REPO_DIR } from '../support/repo.js';
import { oruBundleFor } from '../outbound/cases.js';

const PATIENTS = ['k0', 'k1', 'k2'];
const PER_PATIENT = 8;
const KILL_AT = 12;

interface Receipt {
  readonly run: number;
  readonly seq: string;
  readonly controlId: string;
  readonly answered: boolean;
}

async function until(what: string, check: () => boolean, timeoutMs: number, context: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}\n${context()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function startDeliver(dir: string, log: string[]): ChildProcess {
  const child = spawn(process.execPath, [join(REPO_DIR, 'dist/src/cli.js'), 'deliver', '--destinations', dir, '--connections', '3'], {
    env: { ...process.env, KAFKA_BROKERS: brokers().join(','), METRICS_PORT: '0', LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout?.on('data', (c: Buffer) => log.push(c.toString('utf8')));
  child.stderr?.on('data', (c: Buffer) => log.push(c.toString('utf8')));
  return child;
}

function exited(child: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
  return new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
}

test('deliver killed with SIGKILL mid-delivery and started again: every record AA\'d, resends keep their MSH-10, per-patient order holds', { timeout: 240_000 }, async (t) => {
  const kafka = testKafka();
  const name = `kill-${randomUUID().slice(0, 8)}`;
  const topic = `${name}.fhir`;
  const dir = mkdtempSync(join(tmpdir(), 'deliver-kill-'));
  const receipts: Receipt[] = [];
  const log: string[] = [];
  let run = 1;
  let child: ChildProcess | null = null;
  let killed: Promise<{ code: number | null; signal: NodeJS.Signals | null }> | null = null;

  // Frames are credited to the run whose connection carried them: a socket accepted before the
  // kill belongs to run 1 even if its last bytes are read after it.
  const server = await startRecordingReceiver({
    onConnection: () => run,
    answer: ({ bytes, controlId, connectionTag }) => {
      const socketRun = connectionTag as number;
      const p = parseMessage(bytes.toString('utf8'));
      assert.ok(p.ok);
      const seq = p.message.get('OBR-3.1') ?? '';
      const killNow = socketRun === 1 && receipts.length + 1 === KILL_AT;
      receipts.push({ run: socketRun, seq, controlId, answered: !killNow });
      if (killNow) {
        // Sent, unanswered, uncommitted: the restart must send it again.
        run = 2;
        killed = exited(child!);
        child!.kill('SIGKILL');
        return null;
      }
      return { code: 'AA', delayMs: 5 };
    },
  });
  const port = server.port;
  const context = (): string => `receipts: ${receipts.map((r) => `${r.run}:${r.seq}${r.answered ? '' : '(unanswered)'}`).join(' ')}\ndeliver output: ${log.join('').slice(-3000)}`;
  try {
    writeFileSync(
      join(dir, 'd.yaml'),
      `name: ${name}\nsource: { topic: ${topic} }\nmapping: { outbound: ${join(REPO_DIR, 'mappings/outbound')}, site: general-hospital }\ntarget: { host: 127.0.0.1, port: ${port}, ackTimeoutMs: 5000 }\nretry: { maxAttempts: 5, backoffMs: 50, maxBackoffMs: 500 }\n`,
    );
    await ensureTopics(kafka, [{ topic, partitions: 3 }]);
    const producer = kafka.producer();
    await producer.connect();
    const messages = PATIENTS.flatMap((p, k) => Array.from({ length: PER_PATIENT }, (_, i) => ({ key: p, partition: k, value: oruBundleFor(p, i) })));
    assert.equal(messages.length, 24);
    await producer.send({ topic, acks: -1, messages });
    await producer.disconnect();

    child = startDeliver(dir, log);
    await until(`the ${KILL_AT}th frame and the kill`, () => killed !== null, 90_000, context);
    const first = await killed!;
    assert.equal(first.signal, 'SIGKILL', `the first deliver process died by SIGKILL\n${context()}`);

    child = startDeliver(dir, log);
    const aaSeqs = (): Set<string> => new Set(receipts.filter((r) => r.answered).map((r) => r.seq));
    // The restarted consumer rejoins the group once the killed member's session (30 s) expires.
    await until('every record AA\'d after the restart', () => aaSeqs().size === 24, 150_000, context);
    child.kill('SIGTERM');
    const second = await exited(child);
    assert.equal(second.code, 0, `the second deliver process stopped cleanly on SIGTERM\n${context()}`);

    t.diagnostic(`what the receiver saw (run:record): ${receipts.map((r) => `${r.run}:${r.seq}${r.answered ? '' : '(unanswered)'}`).join(' ')}`);
    const unanswered = receipts.find((r) => !r.answered);
    assert.ok(unanswered);
    const resent = receipts.filter((r) => r.seq === unanswered.seq && r.run === 2);
    assert.ok(resent.length >= 1, `the unanswered ${unanswered.seq} was sent again\n${context()}`);
    const bySeq = new Map<string, Set<string>>();
    for (const r of receipts) bySeq.set(r.seq, (bySeq.get(r.seq) ?? new Set()).add(r.controlId));
    assert.equal(bySeq.size, 24);
    for (const [seq, ids] of bySeq) assert.equal(ids.size, 1, `${seq}: one MSH-10 however often it was sent`);

    for (const p of PATIENTS) {
      const seqOf = (r: Receipt): number => Number(r.seq.slice(p.length + 1));
      const one = receipts.filter((r) => r.run === 1 && r.seq.startsWith(`${p}-`)).map(seqOf);
      const two = receipts.filter((r) => r.run === 2 && r.seq.startsWith(`${p}-`)).map(seqOf);
      const consecutive = (xs: number[]): boolean => xs.every((x, i) => i === 0 || x === xs[i - 1]! + 1);
      assert.ok(consecutive(one) && (one.length === 0 || one[0] === 0), `${p}, first run in order from the start: ${one.join(',')}`);
      assert.ok(consecutive(two), `${p}, second run in order: ${two.join(',')}`);
      const resumeAt = two[0] ?? PER_PATIENT;
      const stoppedAfter = one.length === 0 ? -1 : one[one.length - 1]!;
      assert.ok(resumeAt <= stoppedAfter + 1, `${p}: the second run resumes at ${resumeAt}, no gap after ${stoppedAfter}`);
      assert.equal(Math.max(stoppedAfter, two[two.length - 1] ?? -1), PER_PATIENT - 1, `${p}: everything up to the last record was sent`);
    }
  } finally {
    if (child !== null && child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await exited(child);
    }
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
