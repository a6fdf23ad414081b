/**
 * The console API fuzzed from its own OpenAPI document (what schemathesis does, in TypeScript
 * with fast-check), on the real broker. A channel with a mapping broken on purpose dead-letters
 * three admissions and refuses an ORU at ingest, so there are raw records and waiting dead
 * letters to aim at. The test fetches /api/openapi.json from the running console and, for every
 * operation in it, generates requests from the documented path parameters, query parameters and
 * JSON bodies, and their malformed variants (wrong types, missing required fields, oversize
 * strings, junk JSON, unknown fields, no JSON content type), sent as an operator with the CSRF
 * token, an admin, an operator without or with a wrong token, a forged session, and nobody. Every answer must be:
 *   - below 500;
 *   - a status the operation documents, with a JSON body;
 *   - a 4xx carries {"error": "<reason>"} (the document's Error schema) with a reason;
 *   - a 2xx conforms to the documented response schema.
 * After each operation the console must still answer. Destructive operations (decisions,
 * replay, content views) run against this test's own dead letters.
 *
 * The seed is fixed and printed; HL7_FUZZ_SEED=<n> replays another one, HL7_FUZZ_RUNS=<n>
 * changes the number of requests per operation.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import type { RunningConsole } from '../../src/console/index.js';
import type { RecordRef } from '../../src/records/index.js';
import { startEngine, uniqueChannel } from '../support/engine.js';
import { testKafka } from '../support/kafka.js';
import { RawMllpClient, readAck } from '../support/mllp-client.js';
import { freePort } from '../support/net.js';
import { REPO_DIR } from '../support/repo.js';
import type { ChannelConfig } from '../../src/channel/index.js';
import { addUsers, brokenGenderMapping, openTestConsole, PASSWORD } from './fixture.js';

const SEED = Number(process.env['HL7_FUZZ_SEED'] ?? 1302026);
const RUNS = Number(process.env['HL7_FUZZ_RUNS'] ?? 30);
const METHODS = ['get', 'put', 'post', 'delete', 'patch'] as const;
const ADT_A01 = readFileSync(join(REPO_DIR, 'test-messages', 'adt', 'adt-a01.hl7'), 'latin1');
const ORU_R01 = readFileSync(join(REPO_DIR, 'test-messages', 'oru', 'oru-r01.hl7'), 'latin1');
const SESSION_COOKIE = 'hl7c_session';

console.log(`console API fuzz: seed ${SEED} (HL7_FUZZ_SEED), ${RUNS} requests per operation (HL7_FUZZ_RUNS)`);

const kafka = testKafka();
let work: string;
let channel: ChannelConfig;
let running: RunningConsole;
let base: string;
let rawRefs: RecordRef[] = [];
let dlqRefs: RecordRef[] = [];

type Who = 'operator' | 'admin' | 'operator-without-csrf' | 'operator-wrong-csrf' | 'forged-session' | 'nobody';
const sessions = new Map<'otto' | 'ada', { id: string; csrf: string }>();

/** A live session for the user, made anew when a fuzzed DELETE /api/session ended the last one. */
function sessionOf(user: 'otto' | 'ada'): { id: string; csrf: string } {
  const s = sessions.get(user);
  if (s && running.auth.current(s.id)) return s;
  // Straight from the session store: fuzzed failed logins throttle 127.0.0.1, and the fuzz must
  // keep its sessions anyway.
  const made = running.auth.sessions.create(user, user === 'otto' ? 'operator' : 'admin');
  const fresh = { id: made.id, csrf: made.csrf };
  sessions.set(user, fresh);
  return fresh;
}

interface Operation {
  readonly method: (typeof METHODS)[number];
  readonly path: string;
  readonly op: OpenApiOperation;
}

interface Schema {
  type?: string;
  pattern?: string;
  enum?: unknown[];
  properties?: Record<string, Schema>;
  required?: string[];
  $ref?: string;
}

interface OpenApiOperation {
  parameters?: Array<{ name: string; in: 'path' | 'query' | 'header'; required?: boolean; schema?: Schema }>;
  requestBody?: { required?: boolean; content?: Record<string, { schema?: Schema }> };
  responses: Record<string, { content?: Record<string, { schema?: Schema }> }>;
}

interface FuzzRequest {
  readonly who: Who;
  readonly path: string;
  readonly query: Array<[string, string]>;
  readonly body?: { readonly text: string; readonly contentType: string; readonly variant: string };
}

before(async () => {
  work = mkdtempSync(join(tmpdir(), 'hl7-engine-fuzz-'));
  const { setDir } = brokenGenderMapping(work);
  const te = await startEngine(
    `name: ${uniqueChannel('fuzz')}\nlistener:\n  port: ${await freePort()}\naccept:\n  messageTypes: [ADT^A01]\nack:\n  mode: original\ndedupe:\n  windowSeconds: 0\nmapping: ${setDir}\n`,
  );
  channel = te.channel;
  try {
    const usersFile = join(work, 'users.json');
    await addUsers(usersFile, [['otto', 'operator'], ['ada', 'admin']]);
    running = await openTestConsole({ kafka, channels: [channel], work, usersFile, mappingsRoot: join(work, 'mappings') });
    const client = await RawMllpClient.open(te.port);
    try {
      for (const id of ['FUZ-1', 'FUZ-2', 'FUZ-3']) assert.equal(readAck((await client.roundTrip(Buffer.from(ADT_A01.replace('|MSG00001|', `|${id}|`), 'latin1')))!).code, 'AA');
      assert.equal(readAck((await client.roundTrip(Buffer.from(ORU_R01.replace(/\|[^|]*\|P\|2/, '|FUZ-ORU|P|2'), 'latin1')))!).code, 'AR');
    } finally {
      client.close();
    }
    // The console's own index says when the dead letters are in: no second reader of the topics.
    const deadline = Date.now() + 40_000;
    while (running.queries.deadLetters({ channel: channel.name, status: 'all' }).length < 4 || running.queries.search({ channel: channel.name }).length < 4) {
      assert.ok(Date.now() < deadline, 'the console indexed four raw records and four dead letters within 40 s (three admissions, one ORU)');
      await new Promise((r) => setTimeout(r, 200));
    }
  } finally {
    await te.stop();
  }
  dlqRefs = running.queries.deadLetters({ channel: channel.name, status: 'all' }).map((d) => d.ref);
  rawRefs = running.queries.search({ channel: channel.name }).map((m) => m.ref);
  causes = [...new Set(running.queries.deadLetters({ channel: channel.name, status: 'all' }).map((d) => d.cause))];
  assert.equal(dlqRefs.length, 4);
  assert.equal(rawRefs.length, 4, 'the four raw records');
  base = running.url;
  await running.indexer.caughtUp(60_000);
});

after(async () => {
  await running?.stop();
});

// ---- generators, from the document's schemas ----

/** Strings a fuzzer should try: short, long, unicode, control characters, SQL and path tricks. */
const nastyString = fc.oneof(
  fc.string({ maxLength: 40 }),
  fc.string({ maxLength: 40, unit: 'binary' }),
  fc.constantFrom('', ' ', '%', '%ZZ', '%E0%A4%A', '../..', "' OR 1=1 --", '\u0000', 'null', '-1', '1e309', '__proto__', 'constructor', '😀'.repeat(3)),
);

let causes: string[] = [];
function seededStrings(): string[] {
  return [channel.name, 'validation', 'rejected', ...causes, 'otto', 'waiting', 'all', channel.topics.dlq, channel.topics.raw];
}

/** A value the schema allows (as far as this document's small subset of JSON Schema goes). */
function valueFor(schema: Schema | undefined, name = ''): fc.Arbitrary<unknown> {
  if (!schema) return fc.jsonValue();
  if (schema.enum) return fc.constantFrom(...schema.enum);
  switch (schema.type) {
    case 'boolean':
      return fc.boolean();
    case 'string':
      if (schema.pattern === '^\\d+$') return fc.oneof(fc.nat().map(String), fc.constantFrom('0', '1', '999999999999999999'));
      // A reason is a free text; seeded names make some decisions hit the seeded group.
      if (name === 'reason') return fc.string({ minLength: 1, maxLength: 60 });
      // Names of the seeded channel, categories and causes, so group decisions find a group.
      // The seeded users' names and password, so some logins succeed before the throttle.
      const likely = { channel: [channel.name], category: ['validation', 'rejected'], cause: causes, user: ['otto', 'ada'], password: [PASSWORD] }[name] ?? [];
      return likely.length > 0 ? fc.oneof({ arbitrary: fc.constantFrom(...likely), weight: 4 }, fc.constantFrom(...seededStrings()), nastyString) : fc.oneof(fc.constantFrom(...seededStrings()), nastyString);
    case 'object': {
      const props = schema.properties ?? {};
      const required = new Set(schema.required ?? []);
      const entries = Object.fromEntries(Object.entries(props).map(([k, s]) => [k, valueFor(s, k)]));
      return fc.record(entries, { requiredKeys: Object.keys(props).filter((k) => required.has(k)) });
    }
    case 'array':
      return fc.array(fc.jsonValue(), { maxLength: 3 });
    default:
      return fc.jsonValue();
  }
}

const wrongTypeValue = fc.oneof(fc.integer(), fc.double(), fc.boolean(), fc.constant(null), fc.array(fc.jsonValue(), { maxLength: 3 }), fc.dictionary(fc.string({ maxLength: 5 }), fc.jsonValue(), { maxKeys: 3 }));

/** A JSON body for the schema, valid or broken one of the ways a client breaks bodies. */
function bodyFor(schema: Schema): fc.Arbitrary<NonNullable<FuzzRequest['body']>> {
  const props = Object.keys(schema.properties ?? {});
  const required = schema.required ?? [];
  const valid = valueFor(schema) as fc.Arbitrary<Record<string, unknown>>;
  const json = (variant: string) => (o: unknown) => ({ text: JSON.stringify(o), contentType: 'application/json', variant });
  const variants: Array<fc.MaybeWeightedArbitrary<NonNullable<FuzzRequest['body']>>> = [
    { arbitrary: valid.map(json('valid')), weight: 4 },
    fc.tuple(valid, fc.dictionary(fc.string({ minLength: 1, maxLength: 12 }).filter((k) => !props.includes(k)), fc.jsonValue(), { minKeys: 1, maxKeys: 4 })).map(([v, extra]) => ({ ...extra, ...v })).map(json('unknown fields')),
    fc.oneof(fc.string({ maxLength: 60 }), fc.constantFrom('{', '{"a":', '[1,2', 'nul', '{"action":"resolve",}', '\u0000', '{}}'))
      .filter((t) => {
        try {
          JSON.parse(t);
          return false;
        } catch {
          return true;
        }
      })
      .map((text) => ({ text, contentType: 'application/json', variant: 'junk JSON' })),
    fc.oneof(fc.array(fc.jsonValue(), { maxLength: 3 }), fc.string(), fc.integer(), fc.constant(null)).map(json('not an object')),
    valid.map((v) => ({ text: JSON.stringify(v), contentType: 'text/plain', variant: 'not declared JSON' })),
    fc.tuple(valid, fc.integer({ min: 2001, max: 20_000 })).map(([v, n]) => ({ ...v, [props[n % props.length] ?? 'x']: 'x'.repeat(n) })).map(json('oversize string')),
    valid.map((v) => ({ ...v, padding: 'y'.repeat(70 * 1024) })).map(json('oversize body')),
  ];
  if (props.length > 0) variants.push(fc.tuple(valid, fc.constantFrom(...props), wrongTypeValue).map(([v, k, bad]) => ({ ...v, [k]: bad })).map(json('wrong type')));
  if (required.length > 0)
    variants.push(
      fc.tuple(valid, fc.constantFrom(...required)).map(([v, k]) => {
        const copy = { ...v };
        delete copy[k];
        return copy;
      }).map(json('missing required field')),
    );
  return fc.oneof(...variants);
}

/** TOPIC/PARTITION/OFFSET: mostly this test's own records, sometimes anything at all. */
function pathFor(template: string, params: NonNullable<OpenApiOperation['parameters']>): fc.Arbitrary<string> {
  const names = params.filter((p) => p.in === 'path').map((p) => p.name);
  if (names.length === 0) return fc.constant(template);
  const seeded = fc.constantFrom(...dlqRefs, ...rawRefs).map((r) => ({ topic: encodeURIComponent(r.topic), partition: String(r.partition), offset: r.offset }));
  const anyPart = fc.oneof(fc.nat().map(String), fc.constantFrom('-1', 'abc', '1.5', '9'.repeat(30), '%ZZ'), nastyString.map(encodeURIComponent));
  const anyTopic = fc.oneof(nastyString.map(encodeURIComponent), fc.constantFrom('%ZZ', '%E0%A4%A', '%', 'a%2Fb', encodeURIComponent(channel.topics.fhir)));
  const random = fc.record({ topic: anyTopic, partition: anyPart, offset: anyPart });
  const mixed = fc.tuple(seeded, anyTopic).map(([r, topic]) => ({ ...r, topic }));
  return fc.oneof({ arbitrary: seeded, weight: 3 }, { arbitrary: random, weight: 2 }, { arbitrary: mixed, weight: 1 }).map((v) =>
    template.replace(/\{(\w+)\}/g, (_m, name: string) => (v as Record<string, string>)[name] ?? ''),
  );
}

function queryFor(params: NonNullable<OpenApiOperation['parameters']>): fc.Arbitrary<Array<[string, string]>> {
  const names = params.filter((p) => p.in === 'query').map((p) => p.name);
  const plausible = fc.oneof(
    nastyString,
    fc.constantFrom(...seededStrings(), 'dead-lettered', 'converted', 'AA', 'AR', 'ADT^A01', '10', '0', '1001', 'pt:' + '0'.repeat(32)),
    fc.date({ noInvalidDate: true }).map((d) => d.toISOString()),
  );
  const documented = names.length === 0 ? fc.constant([] as Array<[string, string]>) : fc.array(fc.tuple(fc.constantFrom(...names), plausible), { maxLength: 4 });
  const unknown = fc.array(fc.tuple(fc.string({ minLength: 1, maxLength: 10 }).filter((k) => !names.includes(k)), nastyString), { maxLength: 1 });
  return fc.tuple(documented, fc.oneof({ arbitrary: fc.constant([] as Array<[string, string]>), weight: 4 }, { arbitrary: unknown, weight: 1 })).map(([a, b]) => [...a, ...b]);
}

const whoArb: fc.Arbitrary<Who> = fc.oneof(
  { arbitrary: fc.constant('operator' as const), weight: 7 },
  { arbitrary: fc.constant('admin' as const), weight: 1 },
  { arbitrary: fc.constant('operator-without-csrf' as const), weight: 1 },
  { arbitrary: fc.constant('operator-wrong-csrf' as const), weight: 1 },
  { arbitrary: fc.constant('forged-session' as const), weight: 1 },
  { arbitrary: fc.constant('nobody' as const), weight: 1 },
);

function requestsFor(o: Operation): fc.Arbitrary<FuzzRequest> {
  const params = o.op.parameters ?? [];
  const schema = o.op.requestBody?.content?.['application/json']?.schema;
  return fc.record({
    who: whoArb,
    path: pathFor(o.path, params),
    query: queryFor(params),
    ...(schema ? { body: bodyFor(schema) } : {}),
  });
}

// ---- sending and judging ----

async function send(o: Operation, r: FuzzRequest): Promise<{ status: number; contentType: string; text: string }> {
  const headers: Record<string, string> = {};
  if (r.who === 'forged-session') {
    // A cookie and token of the right shape that no login ever issued.
    headers['cookie'] = `${SESSION_COOKIE}=${'A'.repeat(43)}`;
    headers['x-csrf-token'] = 'B'.repeat(43);
  } else if (r.who !== 'nobody') {
    const s = sessionOf(r.who === 'admin' ? 'ada' : 'otto');
    headers['cookie'] = `${SESSION_COOKIE}=${s.id}`;
    if (r.who === 'operator-wrong-csrf') headers['x-csrf-token'] = `${s.csrf.slice(1)}x`;
    else if (r.who !== 'operator-without-csrf') headers['x-csrf-token'] = s.csrf;
  }
  if (r.body) headers['content-type'] = r.body.contentType;
  const qs = r.query.length > 0 ? `?${r.query.map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join('&')}` : '';
  const res = await fetch(`${base}${r.path}${qs}`, { method: o.method.toUpperCase(), headers, ...(r.body ? { body: r.body.text } : {}), signal: AbortSignal.timeout(30_000) });
  return { status: res.status, contentType: res.headers.get('content-type') ?? '', text: await res.text() };
}

let document: { paths: Record<string, Partial<Record<(typeof METHODS)[number], OpenApiOperation>>> } & Record<string, unknown>;
let ajv: Ajv2020;
const validators = new Map<string, ValidateFunction>();

/** The documented schema of an answer, resolved inside the document itself (refs included). */
function validatorFor(pointer: string): ValidateFunction {
  let v = validators.get(pointer);
  if (!v) validators.set(pointer, (v = ajv.compile({ $ref: `openapi.json#${pointer}` })));
  return v;
}

const escape = (s: string): string => s.replace(/~/g, '~0').replace(/\//g, '~1');

/** Statuses seen per operation, for the test's own report. */
const seenStatuses = new Map<string, Map<number, number>>();

function judge(o: Operation, r: FuzzRequest, res: { status: number; contentType: string; text: string }): void {
  const what = `${o.method.toUpperCase()} ${r.path} as ${r.who}${r.body ? ` with ${r.body.variant} body ${r.body.text.slice(0, 120)}` : ''} -> ${res.status} ${res.text.slice(0, 300)}`;
  const key = `${o.method.toUpperCase()} ${o.path}`;
  const counts = seenStatuses.get(key) ?? new Map<number, number>();
  counts.set(res.status, (counts.get(res.status) ?? 0) + 1);
  seenStatuses.set(key, counts);
  assert.ok(res.status < 500, `a server error: ${what}`);
  assert.match(res.contentType, /^application\/json/, `not JSON: ${what}`);
  let body: unknown;
  assert.doesNotThrow(() => (body = JSON.parse(res.text)), `the answer does not parse as JSON: ${what}`);
  const documented = o.op.responses[String(res.status)];
  assert.ok(documented, `${res.status} is not among the documented answers (${Object.keys(o.op.responses).join(', ')}): ${what}`);
  if (res.status >= 400) {
    assert.ok(validatorFor('/components/schemas/Error')(body), `a ${res.status} without {"error": reason}: ${what}`);
    assert.ok(((body as { error: string }).error ?? '').trim().length > 0, `a ${res.status} with an empty reason: ${what}`);
    return;
  }
  if (documented.content?.['application/json']?.schema) {
    const pointer = `/paths/${escape(o.path)}/${o.method}/responses/${res.status}/content/application~1json/schema`;
    const valid = validatorFor(pointer);
    assert.ok(valid(body), `the answer does not conform to its documented schema (${ajv.errorsText(valid.errors)}): ${what}`);
  }
}

const rank = (path: string): number => (path === '/api/queue/decisions' || path === '/api/queue/replay' ? 2 : path.endsWith('/decisions') || path.endsWith('/resubmit') ? 1 : 0);

/** The document as the running console serves it, and an ajv that resolves refs inside it. */
async function loadDocument(): Promise<void> {
  const s = sessionOf('otto');
  const res = await fetch(`${base}/api/openapi.json`, { headers: { cookie: `${SESSION_COOKIE}=${s.id}` } });
  assert.equal(res.status, 200);
  document = (await res.json()) as typeof document;
  ajv = new Ajv2020({ strict: false, allErrors: true });
  ajv.addSchema({ ...document, $id: 'openapi.json' });
  validators.clear();
}

async function stillAnswers(): Promise<void> {
  const s = sessionOf('otto');
  const res = await fetch(`${base}/api/session`, { headers: { cookie: `${SESSION_COOKIE}=${s.id}` }, signal: AbortSignal.timeout(10_000) });
  assert.equal(res.status, 200, 'the console still answers GET /api/session');
}

test('every operation of the OpenAPI document, fuzzed from its schemas: no 5xx, reasons on every 4xx, 2xx as documented', async (t) => {
  t.diagnostic(`seed ${SEED}, ${RUNS} requests per operation`);
  await loadDocument();
  // Decisions take dead letters out of the queue, so they go last (one dead letter's before a
  // whole group's): replay and content views first meet waiting dead letters.
  const operations: Operation[] = Object.entries(document.paths)
    .flatMap(([path, item]) => METHODS.flatMap((method) => (item[method] ? [{ method, path, op: item[method]! }] : [])))
    .sort((a, b) => rank(a.path) - rank(b.path));
  const exercised = new Set<string>();
  for (const [i, o] of operations.entries()) {
    const key = `${o.method.toUpperCase()} ${o.path}`;
    const started = Date.now();
    const out = await fc.check(
      fc.asyncProperty(requestsFor(o), async (r) => {
        judge(o, r, await send(o, r));
        exercised.add(key);
      }),
      // Each operation its own stream of the one seed, so a failure names what replays it.
      { seed: SEED + i, numRuns: RUNS, endOnFailure: true },
    );
    if (out.failed) assert.fail(`${key}: ${out.errorInstance instanceof Error ? out.errorInstance.message : String(out.errorInstance)}\n${fc.defaultReportMessage(out)}`);
    t.diagnostic(`${key}: ${RUNS} requests in ${Date.now() - started} ms`);
    await stillAnswers();
  }
  const never = [...seenStatuses].filter(([, counts]) => ![...counts.keys()].some((st) => st < 300)).map(([key]) => key);
  t.diagnostic(`operations no request of this seed got a 2xx from: ${never.join(', ') || 'none'}`);
  for (const [key, counts] of seenStatuses) t.diagnostic(`${key}: ${[...counts].sort(([a], [b]) => a - b).map(([st, n]) => `${st}x${n}`).join(' ')}`);
  assert.equal(operations.length, 20, `the document lists ${operations.length} operations`);
  assert.equal(exercised.size, operations.length, 'every documented operation was exercised');
  await stillAnswers();
});

test('a method the document does not list for a path answers 405 with a reason, and Allow names exactly the documented ones', async () => {
  await loadDocument();
  const s = sessionOf('otto');
  const paths = Object.entries(document.paths);
  let checked = 0;
  for (const [template, item] of paths) {
    const documented = METHODS.filter((m) => item[m]).map((m) => m.toUpperCase());
    const r = dlqRefs[0]!;
    const path = template.replace('{topic}', encodeURIComponent(r.topic)).replace('{partition}', String(r.partition)).replace('{offset}', r.offset).replace('{id}', '00000000-0000-4000-8000-000000000000');
    for (const method of METHODS.map((m) => m.toUpperCase()).filter((m) => !documented.includes(m))) {
      const res = await fetch(`${base}${path}`, { method, headers: { cookie: `${SESSION_COOKIE}=${s.id}`, 'x-csrf-token': s.csrf } });
      const body = (await res.json()) as { error?: string };
      assert.equal(res.status, 405, `${method} ${path}`);
      assert.match(body.error ?? '', /is not allowed here/);
      assert.deepEqual((res.headers.get('allow') ?? '').split(', ').sort(), [...documented].sort(), `Allow of ${template}`);
      checked++;
    }
  }
  assert.equal(checked, paths.length * METHODS.length - paths.reduce((n, [, item]) => n + METHODS.filter((m) => item[m]).length, 0));
  assert.ok(checked > 50, `${checked} undocumented method and path pairs`);
});
