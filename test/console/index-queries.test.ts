/**
 * The index's answers, on rows written through IndexStore.applyBatch as the indexer writes them:
 * search order and filters (each read through its own partial index since index version 2),
 * outcomes, and dead-letter state read for a whole queue at once agreeing with each one read
 * alone. No Kafka: the rows are the input, in view.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadChannelFile, type ChannelConfig } from '../../src/channel/index.js';
import { ConsoleQueries, IndexStore, pageCursor, parseMemberCursor, parsePageCursor, type PageCursor, type SearchFilter } from '../../src/console/index.js';
import type { IndexedRecord } from '../../src/console/index-store.js';

let dir: string;
let channel: ChannelConfig;

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'hl7-index-queries-'));
  writeFileSync(join(dir, 'q.yaml'), 'name: q\nlistener:\n  port: 21999\nreview:\n  slaMinutes: 60\n');
  channel = loadChannelFile(join(dir, 'q.yaml'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

const NONE: Omit<IndexedRecord, 'topic' | 'partition' | 'offset' | 'kind' | 'channel' | 'at'> = {
  envelopeId: null, controlId: null, messageCode: null, triggerEvent: null, sendingApplication: null, sendingFacility: null, receivedAt: null,
  rawSha256: null, rawLength: null, charset: null, charsetSource: null, repairs: null, patientKey: null, dedupe: null, ackCode: null,
  category: null, stage: null, cause: null, failureMessage: null, attempts: null, firstAt: null, source: null, previous: null, replayId: null,
  issueCount: null, resources: null,
};

function raw(partition: number, offset: number, controlId: string, receivedAt: string, more: Partial<IndexedRecord> = {}): IndexedRecord {
  return {
    ...NONE, topic: 'q.raw', partition, offset: String(offset), kind: 'raw', channel: 'q', at: receivedAt, receivedAt, controlId,
    messageCode: 'ADT', triggerEvent: 'A01', sendingApplication: 'EPIC', sendingFacility: 'MAIN', ackCode: 'AA', dedupe: `dd-${controlId}`, ...more,
  };
}

function dlq(partition: number, offset: number, controlId: string, at: string, more: Partial<IndexedRecord> = {}): IndexedRecord {
  return {
    ...NONE, topic: 'q.dlq', partition, offset: String(offset), kind: 'dlq', channel: 'q', at, receivedAt: at, controlId, firstAt: at,
    messageCode: 'ADT', triggerEvent: 'A01', category: 'mapping', stage: 'transform', cause: 'PID-3 missing', failureMessage: 'PID-3 missing', attempts: 1, ...more,
  };
}

const ref = (topic: string, partition: number, offset: number) => ({ topic, partition, offset: String(offset) });
const ids = (q: ConsoleQueries, f: SearchFilter): Array<string | null> => q.search(f).map((m) => m.controlId);

function store(): IndexStore {
  return new IndexStore(join(dir, `${Math.random().toString(36).slice(2)}.sqlite`));
}

test('search answers newest first; messages received at the same instant come in topic, partition, offset order', () => {
  const s = store();
  const same = '2026-11-02T10:00:00.000Z';
  s.applyBatch('q.raw', 1, '6', [raw(1, 5, 'P1-5', same), raw(1, 2, 'P1-2', same)], []);
  s.applyBatch('q.raw', 0, '8', [raw(0, 7, 'P0-7', same), raw(0, 3, 'OLDER', '2026-11-01T09:00:00.000Z'), raw(0, 4, 'NEWEST', '2026-11-03T00:00:00.000Z')], []);
  const q = new ConsoleQueries(s, [channel]);
  assert.deepEqual(ids(q, {}), ['NEWEST', 'P0-7', 'P1-2', 'P1-5', 'OLDER']);
  assert.deepEqual(ids(q, { limit: 2 }), ['NEWEST', 'P0-7']);
  assert.deepEqual(ids(q, { sendingApplication: 'EPIC', until: '2026-11-03T00:00:00.000Z', limit: 3 }), ['P0-7', 'P1-2', 'P1-5']);
  s.close();
});

test('each filter, alone or with others, finds exactly its messages', () => {
  const s = store();
  const t = (h: number): string => new Date(Date.UTC(2026, 10, 1, h)).toISOString();
  s.applyBatch('q.raw', 0, '6', [
    raw(0, 0, 'A', t(1), { patientKey: 'pt:aaaa', repairs: ',bom-removed,crlf-terminators,' }),
    raw(0, 1, 'B', t(2), { messageCode: 'ORU', triggerEvent: 'R01', sendingApplication: 'LAB', sendingFacility: 'REF', ackCode: 'CA', patientKey: 'pt:aaaa' }),
    raw(0, 2, 'C', t(3), { triggerEvent: 'A08', sendingFacility: 'WEST', repairs: ',nul-bytes,' }),
    raw(0, 3, 'D', t(4), { messageCode: 'ORU', triggerEvent: 'R01', sendingApplication: 'LAB', sendingFacility: 'MAIN', patientKey: 'pt:bbbb' }),
  ], []);
  s.applyBatch('q.dlq', 0, '1', [dlq(0, 0, 'E', t(5), { stage: 'ingest', category: 'rejected', ackCode: 'AR', sendingApplication: 'LAB', sendingFacility: 'REF' })], []);
  const q = new ConsoleQueries(s, [channel]);
  assert.deepEqual(ids(q, { controlId: 'C' }), ['C']);
  assert.deepEqual(ids(q, { controlId: 'nope' }), []);
  assert.deepEqual(ids(q, { messageType: 'ORU' }), ['D', 'B']);
  assert.deepEqual(ids(q, { messageType: 'ADT^A08' }), ['C']);
  assert.deepEqual(ids(q, { messageType: 'ADT', trigger: 'A01' }), ['E', 'A']);
  assert.deepEqual(ids(q, { sendingApplication: 'LAB', sendingFacility: 'REF' }), ['E', 'B']);
  assert.deepEqual(ids(q, { sendingFacility: 'MAIN' }), ['D', 'A']);
  assert.deepEqual(ids(q, { sendingApplication: 'LAB' }), ['E', 'D', 'B']);
  assert.deepEqual(ids(q, { ackCode: 'AR' }), ['E']);
  assert.deepEqual(ids(q, { repair: 'nul-bytes' }), ['C']);
  assert.deepEqual(ids(q, { repair: 'bom' }), [], 'a repair kind matches whole, not as a prefix');
  assert.deepEqual(ids(q, { patientKey: 'pt:aaaa' }), ['B', 'A']);
  assert.deepEqual(ids(q, { since: t(2), until: t(4) }), ['C', 'B']);
  assert.deepEqual(ids(q, { channel: 'q', ackCode: 'AA', since: t(2) }), ['D', 'C']);
  assert.deepEqual(ids(q, { patientKey: 'pt:aaaa', messageType: 'ORU^R01', ackCode: 'CA' }), ['B']);
  assert.deepEqual(ids(q, { repair: 'crlf-terminators', sendingFacility: 'WEST' }), []);
  s.close();
});

test('outcome: a Bundle means converted, a dead letter dead-lettered, the later of two raws with one dedupe key duplicate, else stored', () => {
  const s = store();
  const t = (m: number): string => new Date(Date.UTC(2026, 10, 1, 12, m)).toISOString();
  s.applyBatch('q.raw', 0, '5', [
    raw(0, 0, 'CONV', t(1)),
    raw(0, 1, 'DEAD', t(2)),
    raw(0, 2, 'FIRST', t(3), { dedupe: 'dd-same' }),
    raw(0, 3, 'AGAIN', t(4), { dedupe: 'dd-same' }),
    raw(0, 4, 'PLAIN', t(5)),
  ], []);
  s.applyBatch('q.fhir', 0, '1', [{ ...NONE, topic: 'q.fhir', partition: 0, offset: '0', kind: 'fhir', channel: 'q', at: t(1), source: ref('q.raw', 0, 0), resources: 'Patient/1' }], []);
  s.applyBatch('q.dlq', 0, '2', [dlq(0, 0, 'DEAD', t(2), { source: ref('q.raw', 0, 1) }), dlq(0, 1, 'REFUSED', t(6), { stage: 'ingest', category: 'rejected', ackCode: 'AR' })], []);
  const q = new ConsoleQueries(s, [channel]);
  assert.deepEqual(ids(q, { outcome: 'converted' }), ['CONV']);
  assert.deepEqual(ids(q, { outcome: 'dead-lettered' }), ['REFUSED', 'DEAD']);
  assert.deepEqual(ids(q, { outcome: 'duplicate' }), ['AGAIN']);
  assert.deepEqual(ids(q, { outcome: 'stored' }), ['PLAIN', 'FIRST']);
  assert.deepEqual(q.search({}).map((m) => [m.controlId, m.outcome]), [
    ['REFUSED', 'dead-lettered'], ['PLAIN', 'stored'], ['AGAIN', 'duplicate'], ['FIRST', 'stored'], ['DEAD', 'dead-lettered'], ['CONV', 'converted'],
  ]);
  s.close();
});

test('outcome kept by the indexer is the same whichever topic arrives first: Bundles and dead letters before their raw records, the later copy before the earlier', () => {
  const t = (m: number): string => new Date(Date.UTC(2026, 10, 1, 12, m)).toISOString();
  const raws = [
    raw(0, 0, 'CONV', t(1)),
    raw(0, 1, 'DEAD', t(2)),
    raw(0, 2, 'FIRST', t(3), { dedupe: 'dd-same' }),
    raw(1, 0, 'AGAIN', t(4), { dedupe: 'dd-same' }),
    raw(0, 3, 'PLAIN', t(5)),
    raw(0, 4, 'BOTH', t(6)),
  ];
  const bundles = [
    { ...NONE, topic: 'q.fhir', partition: 0, offset: '0', kind: 'fhir' as const, channel: 'q', at: t(1), source: ref('q.raw', 0, 0), resources: 'Patient/1' },
    { ...NONE, topic: 'q.fhir', partition: 0, offset: '1', kind: 'fhir' as const, channel: 'q', at: t(7), source: ref('q.raw', 0, 4), resources: 'Patient/2' },
  ];
  // BOTH: dead-lettered, then replayed into a Bundle: converted wins, as it does when judged at read time.
  const letters = [dlq(0, 0, 'DEAD', t(2), { source: ref('q.raw', 0, 1) }), dlq(0, 1, 'REFUSED', t(6), { stage: 'ingest', category: 'rejected', ackCode: 'AR' }), dlq(0, 2, 'BOTH', t(6), { source: ref('q.raw', 0, 4) })];
  const want = [['REFUSED', 'dead-lettered'], ['BOTH', 'converted'], ['PLAIN', 'stored'], ['AGAIN', 'duplicate'], ['FIRST', 'stored'], ['DEAD', 'dead-lettered'], ['CONV', 'converted']];
  const orders: Record<string, (s: IndexStore) => void> = {
    'raw first': (s) => {
      s.applyBatch('q.raw', 0, '5', raws.filter((r) => r.partition === 0), []);
      s.applyBatch('q.raw', 1, '1', raws.filter((r) => r.partition === 1), []);
      s.applyBatch('q.dlq', 0, '3', letters, []);
      s.applyBatch('q.fhir', 0, '2', bundles, []);
    },
    'raw last, the later copy before the earlier': (s) => {
      s.applyBatch('q.fhir', 0, '2', bundles, []);
      s.applyBatch('q.dlq', 0, '3', letters, []);
      s.applyBatch('q.raw', 1, '1', raws.filter((r) => r.partition === 1), []);
      s.applyBatch('q.raw', 0, '5', raws.filter((r) => r.partition === 0), []);
    },
  };
  for (const [name, write] of Object.entries(orders)) {
    const s = store();
    write(s);
    const q = new ConsoleQueries(s, [channel]);
    assert.deepEqual(q.search({}).map((m) => [m.controlId, m.outcome]), want, name);
    assert.deepEqual(ids(q, { outcome: 'duplicate' }), ['AGAIN'], name);
    assert.deepEqual(ids(q, { outcome: 'dead-lettered' }), ['REFUSED', 'DEAD'], name);
    assert.deepEqual(ids(q, { outcome: 'converted' }), ['BOTH', 'CONV'], name);
    assert.deepEqual(ids(q, { outcome: 'stored' }), ['PLAIN', 'FIRST'], name);
    assert.equal(q.message(ref('q.raw', 1, 0))?.message.outcome, 'duplicate', name);
    assert.equal(q.message(ref('q.dlq', 0, 0))?.message.outcome, 'dead-lettered', name + ': a transform dead letter opened as a message');
    s.close();
  }
});

test('keyset paging: each page read after the receive time and record of the last row gives the one-page answer, ties and messages without a receive time included', () => {
  const s = store();
  const t = (h: number): string => new Date(Date.UTC(2026, 10, 1, h)).toISOString();
  s.applyBatch('q.raw', 0, '6', [
    raw(0, 0, 'A', t(1)), raw(0, 1, 'B', t(2)), raw(0, 2, 'C', t(2)), raw(0, 3, 'D', t(3)), raw(0, 4, 'E', t(2), { messageCode: 'ORU' }),
    // An unreadable record: no receive time, so it comes after every timed message.
    { ...raw(0, 5, 'NOTIME', t(4)), receivedAt: null },
  ], []);
  s.applyBatch('q.raw', 1, '2', [raw(1, 0, 'F', t(2)), { ...raw(1, 1, 'NOTIME2', t(4)), receivedAt: null }], []);
  const q = new ConsoleQueries(s, [channel]);
  const pages = (f: SearchFilter, size: number): Array<Array<string | null>> => {
    const out: Array<Array<string | null>> = [];
    let after: PageCursor | undefined;
    for (let i = 0; i < 20; i++) {
      const page = q.search({ ...f, limit: size, ...(after ? { after } : {}) });
      out.push(page.map((m) => m.controlId));
      if (page.length < size) return out;
      after = parsePageCursor(pageCursor(page[page.length - 1]!))!;
    }
    throw new Error('paging did not end');
  };
  assert.deepEqual(ids(q, {}), ['D', 'B', 'C', 'E', 'F', 'A', 'NOTIME', 'NOTIME2']);
  assert.deepEqual(pages({}, 3), [['D', 'B', 'C'], ['E', 'F', 'A'], ['NOTIME', 'NOTIME2']]);
  assert.deepEqual(pages({}, 2), [['D', 'B'], ['C', 'E'], ['F', 'A'], ['NOTIME', 'NOTIME2'], []]);
  assert.deepEqual(pages({}, 7), [['D', 'B', 'C', 'E', 'F', 'A', 'NOTIME'], ['NOTIME2']]);
  assert.deepEqual(pages({ messageType: 'ADT', since: t(2) }, 2), [['D', 'B'], ['C', 'F'], []], 'a filter and a time range hold on every page');
  assert.equal(parsePageCursor('not-a-cursor'), null);
  assert.equal(parsePageCursor(Buffer.from(JSON.stringify(['2026-11-01T00:00:00.000Z', 'q.raw', -1, '0'])).toString('base64url')), null);
  s.close();
});

test('dead letters listed together have the same status, history, successor and resubmitted record as each read alone', () => {
  const s = store();
  const t = (m: number): string => new Date(Date.UTC(2026, 10, 1, 8, m)).toISOString();
  // Offsets 0-5 on partition 0, 0-1 on partition 1; 6 on partition 0 is a replay's new dead letter for 4.
  s.applyBatch('q.dlq', 0, '7', [
    dlq(0, 0, 'R1', t(0)), dlq(0, 1, 'R2', t(1)), dlq(0, 2, 'DISCARDED', t(2)), dlq(0, 3, 'ASSIGNED', t(3)),
    dlq(0, 4, 'FAILED-AGAIN', t(4)), dlq(0, 5, 'WAITING', t(5)),
    dlq(0, 6, 'FAILED-AGAIN', t(6), { previous: ref('q.dlq', 0, 4), replayId: 'rp-1', attempts: 2 }),
  ], []);
  s.applyBatch('q.dlq', 1, '3', [dlq(1, 0, 'P1-GROUP', t(7)), dlq(1, 1, 'P1-R', t(8)), dlq(1, 2, 'RESUBMITTED', t(9))], []);
  // The raw record an edit-and-resubmit stored for the dead letter at 1:2.
  s.applyBatch('q.raw', 0, '1', [raw(0, 0, 'RESUBMITTED', t(10), { previous: ref('q.dlq', 1, 2) })], []);
  const audit = (off: number, kind: string, extra: Record<string, unknown>) => {
    const body = { v: 1, id: `a${off}`, kind, operator: 'otto', host: 'h', at: t(30 + off), channel: 'q', reason: 'why', ...extra };
    return { offset: String(off), id: body.id, kind, operator: 'otto', at: body.at, channel: 'q', reason: 'why', body: JSON.stringify(body) };
  };
  s.applyBatch('hl7-engine.audit', 0, '6', [], [
    // A replay resolved 0-1 on partition 0 and 1 on partition 1 (ranges, as replay-finished writes them).
    { audit: audit(0, 'replay-finished', { replayId: 'rp-0', outcome: 'completed', resolved: [[0, '0', '1'], [1, '1', '1']] }), targets: [{ topic: 'q.dlq', partition: 0, from: '0', to: '1' }, { topic: 'q.dlq', partition: 1, from: '1', to: '1' }] },
    { audit: audit(1, 'dlq-decision', { outcome: 'recorded', decision: { action: 'discard', target: ref('q.dlq', 0, 2) } }), targets: [{ topic: 'q.dlq', partition: 0, from: '2', to: '2' }] },
    { audit: audit(2, 'dlq-decision', { outcome: 'recorded', decision: { action: 'assign', assignee: 'mira', target: ref('q.dlq', 0, 3) } }), targets: [{ topic: 'q.dlq', partition: 0, from: '3', to: '3' }] },
    // A group decision naming two dead letters, one of them twice over (one audit, once in each history).
    { audit: audit(3, 'dlq-decision', { outcome: 'recorded', decision: { action: 'escalate', targets: [ref('q.dlq', 0, 3), ref('q.dlq', 1, 0)] } }), targets: [{ topic: 'q.dlq', partition: 0, from: '3', to: '3' }, { topic: 'q.dlq', partition: 1, from: '0', to: '0' }, { topic: 'q.dlq', partition: 0, from: '3', to: '3' }] },
    { audit: audit(4, 'content-shown', { outcome: 'shown', shown: [{ ...ref('q.dlq', 0, 5), controlId: 'WAITING' }] }), targets: [{ topic: 'q.dlq', partition: 0, from: '5', to: '5' }] },
    { audit: audit(5, 'dlq-decision', { outcome: 'recorded', decision: { action: 'resubmit', target: ref('q.dlq', 1, 2) } }), targets: [{ topic: 'q.dlq', partition: 1, from: '2', to: '2' }] },
  ]);
  const q = new ConsoleQueries(s, [channel], () => new Date(Date.UTC(2026, 10, 1, 12)));
  const all = q.deadLetters({ status: 'all' });
  assert.equal(all.length, 10);
  assert.deepEqual(all, all.map((d) => q.deadLetter(d.ref)));
  assert.deepEqual(all.map((d) => [d.controlId, d.status, d.history.map((h) => h.auditId)]), [
    ['R1', 'resolved', ['a0']], ['R2', 'resolved', ['a0']], ['DISCARDED', 'discarded', ['a1']], ['ASSIGNED', 'waiting', ['a2', 'a3']],
    ['FAILED-AGAIN', 'superseded', []], ['WAITING', 'waiting', ['a4']], ['FAILED-AGAIN', 'waiting', []], ['P1-GROUP', 'waiting', ['a3']], ['P1-R', 'resolved', ['a0']],
    ['RESUBMITTED', 'resubmitted', ['a5']],
  ]);
  assert.deepEqual(all.filter((d) => d.resubmittedAs !== null).map((d) => [d.controlId, d.resubmittedAs]), [['RESUBMITTED', ref('q.raw', 0, 0)]]);
  assert.deepEqual(all[4]!.replacedBy, ref('q.dlq', 0, 6));
  assert.equal(all[3]!.assignee, 'mira');
  assert.equal(all[3]!.escalated, true);
  assert.deepEqual(q.deadLetters({}).map((d) => d.controlId), ['ASSIGNED', 'WAITING', 'FAILED-AGAIN', 'P1-GROUP']);
  s.close();
});

test('a dead letter\'s state is the same whether its audit records, its successor and its resubmitted record arrive before it or after it', () => {
  const t = (m: number): string => new Date(Date.UTC(2026, 10, 1, 8, m)).toISOString();
  const audit = (off: number, kind: string, extra: Record<string, unknown>) => {
    const body = { v: 1, id: `a${off}`, kind, operator: 'otto', host: 'h', at: t(30 + off), channel: 'q', reason: 'why', ...extra };
    return { offset: String(off), id: body.id, kind, operator: 'otto', at: body.at, channel: 'q', reason: 'why', body: JSON.stringify(body) };
  };
  const one = (p: number, o: number) => [{ topic: 'q.dlq', partition: p, from: String(o), to: String(o) }];
  const batches = {
    // Partition 0: resolved by a replay's range; assigned then escalated; a failed resubmit (stays waiting).
    dlq0: () => ['q.dlq', 0, '4', [dlq(0, 0, 'RESOLVED', t(0)), dlq(0, 1, 'ASSIGNED', t(1)), dlq(0, 2, 'RESUBMIT-FAILED', t(2)), dlq(0, 3, 'REPLACED', t(3))], []] as const,
    // Partition 1 holds the dead letter a replay wrote in place of 0:3, and one resubmitted for good.
    dlq1: () => ['q.dlq', 1, '2', [dlq(1, 0, 'REPLACED', t(4), { previous: ref('q.dlq', 0, 3), attempts: 2 }), dlq(1, 1, 'RESUBMITTED', t(5))], []] as const,
    raw: () => ['q.raw', 0, '1', [raw(0, 0, 'RESUBMITTED', t(6), { previous: ref('q.dlq', 1, 1) })], []] as const,
    audits: () => ['hl7-engine.audit', 0, '6', [], [
      { audit: audit(0, 'replay-finished', { outcome: 'completed', resolved: [[0, '0', '0']] }), targets: one(0, 0) },
      { audit: audit(1, 'dlq-decision', { outcome: 'recorded', decision: { action: 'assign', assignee: 'mira', target: ref('q.dlq', 0, 1) } }), targets: one(0, 1) },
      { audit: audit(2, 'dlq-decision', { outcome: 'recorded', decision: { action: 'escalate', target: ref('q.dlq', 0, 1) } }), targets: one(0, 1) },
      { audit: audit(3, 'dlq-decision', { outcome: 'recorded', decision: { action: 'resubmit', target: ref('q.dlq', 0, 2) } }), targets: one(0, 2) },
      { audit: audit(4, 'dlq-decision', { outcome: 'failed', decision: { action: 'resubmit', target: ref('q.dlq', 0, 2) } }), targets: one(0, 2) },
      { audit: audit(5, 'dlq-decision', { outcome: 'recorded', decision: { action: 'resubmit', target: ref('q.dlq', 1, 1) } }), targets: one(1, 1) },
    ]] as const,
  };
  type Batch = ReturnType<(typeof batches)[keyof typeof batches]>;
  const answers = (order: ReadonlyArray<keyof typeof batches>) => {
    const s = store();
    for (const k of order) {
      const [topic, p, next, records, audits] = batches[k]() as Batch;
      s.applyBatch(topic, p, next, records as unknown as IndexedRecord[], audits as unknown as Parameters<IndexStore['applyBatch']>[4]);
    }
    const q = new ConsoleQueries(s, [channel], () => new Date(Date.UTC(2026, 10, 1, 12)));
    const queue = q.queue();
    const members = queue.flatMap((e) => e.groups.flatMap((g) => q.groupPage({ queue: e.channel, ...g }, { slaMinutes: 60 }).members));
    const out = { all: q.deadLetters({ status: 'all' }), waiting: q.deadLetters({ channel: 'q' }).map((d) => d.controlId), queue, members };
    s.close();
    return out;
  };
  const recordsFirst = answers(['dlq0', 'dlq1', 'raw', 'audits']);
  assert.deepEqual(recordsFirst.all.map((d) => [d.controlId, d.status, d.assignee, d.escalated, d.history.map((h) => h.auditId)]), [
    ['RESOLVED', 'resolved', null, false, ['a0']],
    ['ASSIGNED', 'waiting', 'mira', true, ['a1', 'a2']],
    ['RESUBMIT-FAILED', 'waiting', null, false, ['a3', 'a4']],
    ['REPLACED', 'superseded', null, false, []],
    ['REPLACED', 'waiting', null, false, []],
    ['RESUBMITTED', 'resubmitted', null, false, ['a5']],
  ]);
  assert.deepEqual(recordsFirst.waiting, ['ASSIGNED', 'RESUBMIT-FAILED', 'REPLACED']);
  // The queue reads the kept state alone: one group of three, whose page lists them with the assignee and the flag.
  const [queue] = recordsFirst.queue;
  assert.equal(queue!.waiting, 3);
  assert.deepEqual(queue!.groups.map((g) => g.count), [3]);
  assert.deepEqual(recordsFirst.members.map((d) => [d.controlId, d.assignee, d.escalated, d.attempts]), [
    ['ASSIGNED', 'mira', true, 1], ['RESUBMIT-FAILED', null, false, 1], ['REPLACED', null, false, 2],
  ]);
  // Audits first, then the successor before the dead letter it replaces, the resubmitted raw record before its dead letter.
  assert.deepEqual(answers(['audits', 'raw', 'dlq1', 'dlq0']), recordsFirst);
  assert.deepEqual(answers(['dlq1', 'audits', 'dlq0', 'raw']), recordsFirst);
});

test('the queue counts each group from the kept counts: decisions, a failed resubmit, a successor and a batch indexed twice move them, and the pages of a group chain to its whole membership', () => {
  const s = store();
  const at = (m: number): string => new Date(Date.UTC(2026, 10, 1, 8, m)).toISOString();
  const audit = (off: number, extra: Record<string, unknown>) => {
    const body = { v: 1, id: `a${off}`, kind: 'dlq-decision', operator: 'otto', host: 'h', at: at(100 + off), channel: 'q', reason: 'why', ...extra };
    return { offset: String(off), id: body.id, kind: 'dlq-decision', operator: 'otto', at: body.at, channel: 'q', reason: 'why', body: JSON.stringify(body) };
  };
  // Seven PID-3 mapping failures (0-6) a minute apart, two validation failures (7-8), one ingest refusal (9).
  const batch = [
    ...[0, 1, 2, 3, 4, 5, 6].map((o) => dlq(0, o, `M${o}`, at(o))),
    ...[7, 8].map((o) => dlq(0, o, `V${o}`, at(o), { category: 'validation', cause: 'Encounter.period.start after end' })),
    dlq(0, 9, 'R9', at(9), { category: 'rejected', stage: 'ingest', cause: 'type not accepted' }),
  ];
  s.applyBatch('q.dlq', 0, '10', batch, []);
  // The same batch again (re-read after a crash): the counts must not double.
  s.applyBatch('q.dlq', 0, '10', batch, []);
  s.applyBatch('hl7-engine.audit', 0, '3', [], [
    { audit: audit(0, { outcome: 'recorded', decision: { action: 'discard', target: ref('q.dlq', 0, 0) } }), targets: [{ topic: 'q.dlq', partition: 0, from: '0', to: '0' }] },
    { audit: audit(1, { outcome: 'recorded', decision: { action: 'resubmit', target: ref('q.dlq', 0, 7) } }), targets: [{ topic: 'q.dlq', partition: 0, from: '7', to: '7' }] },
    { audit: audit(2, { outcome: 'failed', decision: { action: 'resubmit', target: ref('q.dlq', 0, 7) } }), targets: [{ topic: 'q.dlq', partition: 0, from: '7', to: '7' }] },
  ]);
  // A replay of M1 failed again: its successor waits in its place (written later, so it is the youngest).
  s.applyBatch('q.dlq', 1, '1', [dlq(1, 0, 'M1', at(50), { previous: ref('q.dlq', 0, 1), attempts: 2 })], []);
  // At 9:05 with a 60-minute SLA, what waits since before 8:05 is overdue.
  const q = new ConsoleQueries(s, [channel], () => new Date(Date.UTC(2026, 10, 1, 9, 5)));
  const [queue] = q.queue();
  assert.deepEqual(queue!.groups.map((g) => [g.category, g.stage, g.cause, g.count, g.overdue, g.oldestAgeSeconds]), [
    // M0 discarded, M1 replaced by its successor: M2-M6 and the successor wait; M2-M4 since before 8:05.
    ['mapping', 'transform', 'PID-3 missing', 6, 3, 63 * 60],
    // V7's resubmit failed, so it waits again beside V8.
    ['validation', 'transform', 'Encounter.period.start after end', 2, 0, 58 * 60],
    ['rejected', 'ingest', 'type not accepted', 1, 0, 56 * 60],
  ]);
  assert.deepEqual([queue!.waiting, queue!.overdue, queue!.oldestAgeSeconds], [9, 3, 63 * 60]);
  assert.equal(q.groupSize('q', 'mapping'), 6);
  assert.equal(q.groupSize('q', 'validation', 'Encounter.period.start after end'), 2);
  assert.equal(q.groupSize('q', 'validation', 'another cause'), 0);
  // Pages of two, chained by their cursors, give the group oldest first, each member once.
  const key = { queue: 'q', category: 'mapping', stage: 'transform', cause: 'PID-3 missing' };
  const seen: string[] = [];
  let page = q.groupPage(key, { limit: 2, slaMinutes: 60 });
  for (let n = 0; ; n++) {
    assert.ok(n < 10, 'the pages end');
    seen.push(...page.members.map((m) => `${m.controlId}@${m.ref.partition}:${m.ref.offset}${m.overdue ? '!' : ''}`));
    if (!page.next) break;
    const after = parseMemberCursor(page.next);
    assert.ok(after);
    page = q.groupPage(key, { limit: 2, slaMinutes: 60, after });
  }
  assert.deepEqual(seen, ['M2@0:2!', 'M3@0:3!', 'M4@0:4!', 'M5@0:5', 'M6@0:6', 'M1@1:0']);
  assert.deepEqual(q.groupMembers('q', 'mapping').map((d) => d.controlId), ['M2', 'M3', 'M4', 'M5', 'M6', 'M1']);
  assert.equal(parseMemberCursor('not a cursor'), null);
  assert.equal(parseMemberCursor(Buffer.from(JSON.stringify([-1, 'q.dlq', 0, '1'])).toString('base64url')), null);
  s.close();
});
