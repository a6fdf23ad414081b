/**
 * A conditional write (`PUT Type?identifier=…`, `POST` with `ifNoneExist`) must match at most one
 * resource on the server, or it fails with 412 Precondition Failed (FHIR R4 http.html#cond-update).
 * So when two resources of one type in one message carry the same identifier (ORU orders that
 * share a placer number), none of them is written conditionally: all go by their deterministic
 * ids, and a resend of the message updates the same resources.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Bundle, BundleEntry } from '@medplum/fhirtypes';
import { convertMessage, loadMappingSet, type ConversionIssue } from '../../src/mapping/index.js';
import { parseMessage } from '../../src/hl7/index.js';
import { decodeMessage } from '../../src/charset/index.js';
import { REPO_DIR } from '../support/repo.js';

const set = loadMappingSet(join(REPO_DIR, 'mappings/default'), 'general-hospital');

function convert(lines: readonly string[]): { bundle: Bundle; issues: readonly ConversionIssue[] } {
  const p = parseMessage(`${lines.join('\r')}\r`);
  assert.ok(p.ok);
  const r = convertMessage(p.message, set);
  assert.ok(r.bundle);
  return { bundle: r.bundle, issues: r.issues };
}

const UUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g;

/** Each entry of `type` as its request line, ids shown as <id> (their distinctness is checked apart). */
function requests(b: Bundle, type: string): string[] {
  return entries(b, type).map((e) => {
    const r = e.request!;
    return `${r.method} ${r.url}${r.ifNoneExist ? ` ifNoneExist ${r.ifNoneExist}` : ''}`.replace(UUID, '<id>');
  });
}

function entries(b: Bundle, type: string): BundleEntry[] {
  return (b.entry ?? []).filter((e) => e.resource?.resourceType === type);
}

const MSH = 'MSH|^~\\&|LABSYS|GENLAB|HL7ENGINE|GENHOSP|20261121091500-0500||ORU^R01^ORU_R01|LAB000077|P|2.5.1';
const PID = 'PID|1||123456789^^^GENHOSP^MR||DOE^JANE||19800215|F';

/** Two orders of one ORU that share the placer number ORD1001 and the filler number LAB5001. */
const TWO_ORDERS_ONE_PLACER = [
  MSH,
  PID,
  'OBR|1|ORD1001^EPIC|LAB5001^LABSYS|24323-8^Comprehensive metabolic panel^LN|||20261121070000-0500||||||||||||||||||F',
  'OBX|1|NM|2345-7^Glucose^LN||105|mg/dL^mg/dL^UCUM|70-99|H|||F',
  'OBR|2|ORD1001^EPIC|LAB5001^LABSYS|57021-8^CBC W Auto Differential panel^LN|||20261121070000-0500||||||||||||||||||F',
  'OBX|1|NM|718-7^Hemoglobin^LN||13.5|g/dL^g/dL^UCUM|12-16|N|||F',
];

test('two orders sharing a placer number: every ServiceRequest and DiagnosticReport goes by id, none conditionally', () => {
  const { bundle, issues } = convert(TWO_ORDERS_ONE_PLACER);
  // Before: the first was `PUT ServiceRequest?identifier=…|ORD1001` and the second PUT by id, so
  // the server held two with ORD1001 after delivery and a resend's conditional PUT got 412.
  assert.deepEqual(requests(bundle, 'ServiceRequest'), ['PUT ServiceRequest/<id>', 'PUT ServiceRequest/<id>']);
  assert.deepEqual(requests(bundle, 'DiagnosticReport'), ['PUT DiagnosticReport/<id>', 'PUT DiagnosticReport/<id>']);
  for (const type of ['ServiceRequest', 'DiagnosticReport']) {
    const es = entries(bundle, type);
    const ids = es.map((e) => e.resource!.id);
    assert.equal(new Set(ids).size, 2, `${type}: two distinct ids`);
    // The URL names the resource's own id, and the id comes right after resourceType as in any PUT by id.
    es.forEach((e) => {
      assert.equal(e.request!.url, `${type}/${e.resource!.id}`);
      assert.deepEqual(Object.keys(e.resource!).slice(0, 2), ['resourceType', 'id']);
    });
  }
  const fallback = issues.find((i) => i.code === 'identity-fallback' && i.message.startsWith('ServiceRequest'));
  assert.match(fallback?.message ?? '', /written by id \(PUT ServiceRequest\/id\)/);
});

test('an order whose placer number is its own stays a conditional update', () => {
  const { bundle } = convert(TWO_ORDERS_ONE_PLACER.slice(0, 4));
  assert.deepEqual(requests(bundle, 'ServiceRequest'), ['PUT ServiceRequest?identifier=https%3A%2F%2Ffhir.general-hospital.example.org%2Fsid%2Forder-placer|ORD1001']);
  assert.equal(entries(bundle, 'ServiceRequest')[0]!.resource!.id, undefined);
});

/** Folders of test-messages/ that hold inputs for other tests, not messages to convert. */
const NOT_MESSAGES = new Set(['bad', 'charset', 'expected']);

test('no Bundle of the hand-made test messages holds a conditional update that could match two of its entries', () => {
  let messages = 0;
  const problems: string[] = [];
  for (const dir of readdirSync(join(REPO_DIR, 'test-messages'), { withFileTypes: true })) {
    if (!dir.isDirectory() || NOT_MESSAGES.has(dir.name)) continue;
    for (const f of readdirSync(join(REPO_DIR, 'test-messages', dir.name)).filter((x) => x.endsWith('.hl7'))) {
      const d = decodeMessage(readFileSync(join(REPO_DIR, 'test-messages', dir.name, f)), { fallback: 'windows-1252' });
      assert.ok(d.ok);
      const p = parseMessage(d.text);
      assert.ok(p.ok, `${dir.name}/${f} parses`);
      const bundle = convertMessage(p.message, set).bundle;
      if (bundle === null) continue;
      messages++;
      problems.push(...ambiguousConditions(bundle).map((c) => `${dir.name}/${f}: ${c}`));
    }
  }
  assert.ok(messages >= 80, `converted ${messages} test messages`);
  assert.deepEqual(problems, []);
});

/**
 * Conditional updates of `b` whose identifier another entry of the same type also carries. The
 * `ifNoneExist` of the Practitioner, Location and Organization entries converters make is left
 * out: two names under one placeholder ID still give two such entries (README, limits).
 */
function ambiguousConditions(b: Bundle): string[] {
  const out: string[] = [];
  for (const e of b.entry ?? []) {
    const r = e.request;
    const query = r?.method === 'PUT' && r.url.includes('?') ? r.url.slice(r.url.indexOf('?') + 1) : undefined;
    if (!query?.startsWith('identifier=')) continue;
    const [system, value] = query.slice('identifier='.length).split('|').map(decodeURIComponent);
    const type = e.resource!.resourceType;
    const holders = (b.entry ?? []).filter(
      (o) => o.resource?.resourceType === type && ((o.resource as { identifier?: { system?: string; value?: string }[] }).identifier ?? []).some((i) => i.system === system && i.value === value),
    );
    if (holders.length > 1) out.push(`${r!.method} ${type}?${query} matches ${holders.length} entries`);
  }
  return out;
}
