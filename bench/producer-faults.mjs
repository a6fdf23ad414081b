// A fault run for the group-commit producer alone (not part of npm test; ~1.5 min): 32 senders
// through GroupCommitProducer into a fresh local broker (its own instance, producer-faults) that is
// SIGKILLed three times (5, 8, 3 s down) mid-stream; a failed publish is sent again after 300 ms,
// as an MLLP sender resends after AE. Every acknowledged id must be in the topic afterwards
// (bench/KAFKA-CLIENTS.md, pitfall 7). Run after `npm run build`: node bench/producer-faults.mjs
import { LocalKafka } from '../dist/devtools/local-kafka/index.js';
import { GroupCommitProducer, ensureTopics } from '../dist/src/kafka/index.js';
import { readTopic, testKafka } from '../dist/test/support/kafka.js';
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const broker = new LocalKafka({ name: 'producer-faults', fresh: true });
await broker.start();
const list = [broker.bootstrap];
const topic = 'sigkill.raw';
const kafka = testKafka(list);
await ensureTopics(kafka, [{ topic, partitions: 3 }]);
const producer = new GroupCommitProducer(kafka);
await producer.connect();
await producer.learnTopics([topic]);
const acked = new Set(); let failures = 0; const errs = new Map(); let stop = false; let n = 0;
const senders = Array.from({ length: 32 }, async (_, s) => {
  while (!stop) {
    const id = `s${s}-${n++}`;
    for (;;) {
      try { await producer.publish({ topic, key: id, value: Buffer.from(id), headers: { id } }, 5000); acked.add(id); break; }
      catch (e) { failures++; const m = String(e?.message ?? e).slice(0, 60); errs.set(m, (errs.get(m) ?? 0) + 1); if (stop) break; await sleep(300); }
    }
    await sleep(5);
  }
});
for (const [sig, down] of [['SIGKILL', 5000], ['SIGKILL', 8000], ['SIGKILL', 3000]]) {
  await sleep(6000);
  const before = acked.size;
  await broker.stop({ signal: sig, removeData: false });
  console.log(`${sig} at ${before} acked`);
  await sleep(down);
  await broker.start();
  const t = Date.now(); const base = acked.size;
  while (acked.size === base && Date.now() - t < 60000) await sleep(50);
  console.log(`back: first ack ${Date.now() - t} ms after start`);
}
await sleep(4000);
stop = true; await Promise.all(senders); await producer.disconnect();
// Reads for a fixed 25 s (more than enough for ~100k small records), whatever it finds.
const stored = await readTopic(topic, { until: () => false, timeoutMs: 25000, list });
const ids = new Map(); for (const r of stored) ids.set(r.key, (ids.get(r.key) ?? 0) + 1);
const missing = [...acked].filter((id) => !ids.has(id));
const dup = [...ids.values()].filter((c) => c > 1).length;
console.log(JSON.stringify({ acked: acked.size, stored: stored.length, missing: missing.length, keysStoredTwice: dup, failures, errors: Object.fromEntries(errs) }));
await broker.stop({ removeData: true });
process.exit(missing.length === 0 ? 0 : 1);
