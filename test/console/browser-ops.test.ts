/**
 * The console's content view, assignment and edit-and-resubmit in a real browser (Debian's
 * chromium via playwright-core). A sender labels two admissions HL7 2.9, which the channel
 * refuses at ingest; the engine keeps running so its transform converts what is resubmitted.
 * An operator must give a reason before the page shows a dead letter's text, and that view is
 * in the dead letter's history; assigning shows the assignee; correcting MSH-12 in the editor
 * shows the diff, and resubmitting takes the dead letter out of the queue and stores a new
 * message found by its control id. Until content is asked for, no page shows the patient.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import type { RunningConsole } from '../../src/console/index.js';
import { startEngine, uniqueChannel, type TestEngine } from '../support/engine.js';
import { readTopic, testKafka } from '../support/kafka.js';
import { RawMllpClient, readAck } from '../support/mllp-client.js';
import { freePort } from '../support/net.js';
import { REPO_DIR } from '../support/repo.js';
import { addUsers, openTestConsole, PASSWORD, showQueue } from './fixture.js';

interface ChromiumScript {
  ensureChromium(): string;
}
const script = (await import(new URL('scripts/chromium.mjs', `file://${REPO_DIR}`).href)) as ChromiumScript;
const executablePath = script.ensureChromium();

const ADT_A01 = readFileSync(join(REPO_DIR, 'test-messages', 'adt', 'adt-a01.hl7'), 'latin1');
/** What identifies the test message's patient (PID-3, PID-5): never on a page before a content view. */
const PHI = ['123456789', 'JANIE'];

let work: string;
let te: TestEngine;
let running: RunningConsole;
let browser: Browser;
let page: Page;

async function noPhi(): Promise<void> {
  const html = await page.content();
  for (const p of PHI) assert.ok(!html.includes(p), `the page shows ${p} before any content view`);
}

async function openFromQueue(controlId: string): Promise<void> {
  await showQueue(page);
  await page.click(`#queue-body tr[data-control-id="${controlId}"] button`, { timeout: 10_000 });
  await page.waitForSelector(`#detail-title:has-text("${controlId}")`, { timeout: 10_000 });
}

before(async () => {
  work = mkdtempSync(join(tmpdir(), 'hl7-engine-browser-ops-'));
  te = await startEngine(
    `name: ${uniqueChannel('browser-ops')}\nlistener:\n  port: ${await freePort()}\naccept:\n  messageTypes: [ADT^A01]\nack:\n  mode: original\ndedupe:\n  windowSeconds: 0\nmapping: ${join(REPO_DIR, 'mappings', 'default')}\n`,
  );
  const client = await RawMllpClient.open(te.port);
  try {
    for (const id of ['BOP-1', 'BOP-2']) {
      const text = ADT_A01.replace('|MSG00001|P|2.5.1|', `|${id}|P|2.9|`);
      assert.equal(readAck((await client.roundTrip(Buffer.from(text, 'latin1')))!).code, 'AR');
    }
  } finally {
    client.close();
  }
  assert.equal((await readTopic(te.channel.topics.dlq, { until: (rs) => rs.length >= 2, timeoutMs: 40_000 })).length, 2);
  const usersFile = join(work, 'users.json');
  await addUsers(usersFile, [['otto', 'operator']]);
  running = await openTestConsole({ kafka: testKafka(), channels: [te.channel], work, usersFile });
  browser = await chromium.launch({ executablePath, args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'], timeout: 60_000 });
  page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
  await page.goto(running.url);
  await page.fill('#login-user', 'otto');
  await page.fill('#login-password', PASSWORD);
  await page.click('#login button[type=submit]');
  await page.waitForSelector('#who:has-text("otto")', { timeout: 10_000 });
});

after(async () => {
  await browser?.close();
  await running?.stop();
  await te?.stop();
});

test('"show content" needs a reason; the text appears only after it, and the view is in the dead letter\'s history', async () => {
  await openFromQueue('BOP-2');
  await noPhi();
  await page.click('#show-content');
  await page.waitForSelector('#message:has-text("a reason is required")', { timeout: 10_000 });
  assert.equal(await page.isHidden('#content'), true, 'no content without a reason');
  await noPhi();
  await page.fill('#content-reason', 'sender asks what we received');
  await page.click('#show-content');
  await page.waitForSelector('#content:has-text("PID|")', { timeout: 20_000 });
  assert.match((await page.textContent('#content')) ?? '', /DOE\^JANE/);
  await openFromQueue('BOP-2');
  const history = (await page.textContent('#history')) ?? '';
  assert.match(history, /otto.*content-shown.*sender asks what we received/s);
});

test('assigning a dead letter to a person shows the assignee on the page and in the queue', async () => {
  await openFromQueue('BOP-2');
  await page.fill('#reason', 'maria handles this sender');
  await page.fill('#assignee', 'maria');
  await page.click('#decide-assign');
  await page.waitForSelector('#history tr:has-text("to maria")', { timeout: 20_000 });
  assert.match((await page.textContent('#detail-meta')) ?? '', /assigned to\s*maria/);
  await showQueue(page);
  await page.waitForSelector('#queue-body tr[data-control-id="BOP-2"]:has-text("assigned to maria")', { timeout: 10_000 });
  await noPhi();
});

test('edit-and-resubmit: the diff of the corrected MSH-12, then the dead letter leaves the queue and the new message is found by control id', async () => {
  await openFromQueue('BOP-1');
  await page.fill('#content-reason', 'correcting the version the sender mislabelled');
  await page.click('#show-content');
  await page.waitForSelector('#edit-text', { timeout: 20_000 });
  const original = await page.inputValue('#edit-text');
  assert.match(original, /\|BOP-1\|P\|2\.9\|/);
  await page.fill('#edit-text', original.replace('|BOP-1|P|2.9|', '|BOP-1|P|2.5.1|'));
  assert.equal(await page.isDisabled('#resubmit'), true, 'no resubmit before the diff is shown');
  await page.click('#edit-diff');
  await page.waitForSelector('#resubmit-diff:not([hidden])', { timeout: 10_000 });
  const diff = ((await page.textContent('#resubmit-diff')) ?? '').split('\n');
  assert.equal(diff.length, 3, diff.join('\n'));
  assert.match(diff[0]!, /^- MSH\|.*\|BOP-1\|P\|2\.9\|/);
  assert.match(diff[1]!, /^\+ MSH\|.*\|BOP-1\|P\|2\.5\.1\|/);
  assert.match(diff[2]!, /^ {2}\(\d+ segments unchanged\)$/);
  await page.fill('#resubmit-reason', 'sender confirmed 2.5.1 by phone');
  await page.click('#resubmit');
  await page.waitForSelector('#detail-title:has-text("(resubmitted)")', { timeout: 30_000 });
  assert.match((await page.textContent('#message')) ?? '', /resubmitted as .*; audit record /);
  assert.match((await page.textContent('#history')) ?? '', /otto.*resubmit.*sender confirmed 2\.5\.1 by phone/s);
  await showQueue(page);
  await page.waitForSelector('#queue-body tr[data-control-id="BOP-2"]', { timeout: 10_000 });
  assert.equal(await page.locator('#queue-body tr[data-control-id="BOP-1"]').count(), 0, 'the resubmitted dead letter left the queue');
  await page.click('#nav-search');
  await page.fill('#q-control', 'BOP-1');
  await page.click('#search-form button[type=submit]');
  await page.waitForSelector('#results tbody tr:has-text("dead-lettered")', { timeout: 10_000 });
  const stored = page.locator('#results tbody tr', { hasNotText: 'dead-lettered' });
  assert.equal(await stored.count(), 1, 'the refused frame and the resubmitted message, both found by control id');
  await stored.locator('button').click();
  await page.waitForSelector('#lineage li:has-text("resubmitted by an operator in place of dead letter")', { timeout: 10_000 });
});
