/**
 * The console in a real browser (Debian's chromium, installed by scripts/chromium.mjs, driven by
 * playwright-core): an operator logs in, finds a message by control id, opens its dead letter,
 * sees the dry-run diff, replays it, sees the audit entry appear and the dead letter leave the
 * queue; a viewer gets no replay button and is refused by the API; the operator escalates, then
 * resolves, the remaining queue group from the queue page; the channel overview says what a
 * console run on its own cannot know; logging out ends the session.
 * No page shows a name or identifier of the test patients. The operator's page after the replay
 * is screenshotted; with UPDATE_SCREENSHOTS=1 it replaces docs/console.png (the README's picture),
 * otherwise it goes to a temporary folder so a test run leaves the checkout as it was.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { chromium, type Browser, type Page } from 'playwright-core';
import { runUsers } from '../../src/auth/index.js';
import { startConsole, type RunningConsole } from '../../src/console/index.js';
import { createLogger } from '../../src/ops/index.js';
import { startEngine, uniqueChannel } from '../support/engine.js';
import { readTopic } from '../support/kafka.js';
import { RawMllpClient, readAck } from '../support/mllp-client.js';
import { freePort } from '../support/net.js';
import { REPO_DIR } from '../support/repo.js';
import { testKafka } from '../support/kafka.js';
import { showQueue } from './fixture.js';

interface ChromiumScript {
  ensureChromium(): string;
}
const script = (await import(new URL('scripts/chromium.mjs', `file://${REPO_DIR}`).href)) as ChromiumScript;
// First run on a fresh machine: apt installs Debian's chromium here (a minute or two).
const executablePath = script.ensureChromium();

const ADT_A01 = readFileSync(join(REPO_DIR, 'test-messages', 'adt', 'adt-a01.hl7'), 'latin1');
const PATIENTS = [
  { controlId: 'BRW-1', mrn: 'MRN-BRW-4401', family: 'ARKWRIGHT', given: 'SERAPHINA' },
  { controlId: 'BRW-2', mrn: 'MRN-BRW-4402', family: 'PENNYFEATHER', given: 'LEOPOLD' },
];
const PHI = PATIENTS.flatMap((p) => [p.mrn, p.family, p.given]);
const PASSWORD = 'browser test secret';

let work: string;
let setDir: string;
let running: RunningConsole;
let browser: Browser;
const pagesSeen: string[] = [];

async function snapshot(page: Page): Promise<void> {
  pagesSeen.push(await page.content());
}

async function login(page: Page, user: string): Promise<void> {
  await page.goto(running.url);
  await page.fill('#login-user', user);
  await page.fill('#login-password', PASSWORD);
  await page.click('#login button[type=submit]');
  await page.waitForSelector(`#who:has-text("${user}")`, { timeout: 10_000 });
}

before(async () => {
  work = mkdtempSync(join(tmpdir(), 'hl7-engine-browser-'));
  setDir = join(work, 'mappings', 'adt-set');
  cpSync(join(REPO_DIR, 'mappings', 'default'), setDir, { recursive: true });
  const common = readFileSync(join(setDir, 'common.yaml'), 'utf8');
  writeFileSync(join(setDir, 'common.yaml'), common.replace('      gender: "PID-8 | code(hl7-0001)"', '      gender: "PID-8"'));
  const te = await startEngine(`name: ${uniqueChannel('browser')}\nlistener:\n  port: ${await freePort()}\nack:\n  mode: original\ndedupe:\n  windowSeconds: 0\nmapping: ${setDir}\n`);
  const channel = te.channel;
  try {
    const client = await RawMllpClient.open(te.port);
    try {
      for (const p of PATIENTS) {
        const text = ADT_A01.replace('|MSG00001|', `|${p.controlId}|`).replace('123456789^^^GENHOSP^MR', `${p.mrn}^^^GENHOSP^MR`).replace('DOE^JANE^Q^^MS^^L~DOE^JANIE^^^^^N', `${p.family}^${p.given}^^^^^L`);
        assert.equal(readAck((await client.roundTrip(Buffer.from(text, 'latin1')))!).code, 'AA');
      }
    } finally {
      client.close();
    }
    assert.equal((await readTopic(channel.topics.dlq, { until: (rs) => rs.length >= 2, timeoutMs: 40_000 })).length, 2);
  } finally {
    await te.stop();
  }
  // The mapping is fixed before anyone replays.
  writeFileSync(join(setDir, 'common.yaml'), common);
  const usersFile = join(work, 'users.json');
  for (const [user, role] of [['vera', 'viewer'], ['otto', 'operator']] as const) {
    assert.equal(await runUsers(['add', user, '--role', role, '--users', usersFile], { stdout: () => undefined, stderr: () => undefined, readSecret: async () => PASSWORD }), 0);
  }
  running = await startConsole({
    kafka: testKafka(),
    channels: [channel],
    logger: createLogger({ level: 'warn', destination: new Writable({ write: (_c, _e, cb) => cb() }) }),
    port: 0,
    indexFile: join(work, 'index.sqlite'),
    usersFile,
    checkpointDir: join(work, 'checkpoints'),
  });
  await running.indexer.caughtUp(60_000);
  browser = await chromium.launch({ executablePath, args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'], timeout: 60_000 });
});

after(async () => {
  await browser?.close();
  await running?.stop();
});

test('the queue shows a group\'s counts and age; opening it lists its first page of members, and "Next page" follows the API\'s Link header, as on the message search', async () => {
  const page = await browser.newPage({ viewport: { width: 1200, height: 800 } });
  // Pages of one, so two dead letters and four messages make several pages: the page follows
  // whatever next link the API gives, so the test only shrinks the page size of the first request.
  await page.route(/\/api\/queue$/, async (route) => {
    const res = await route.fetch();
    const queues = (await res.json()) as Array<{ groups: Array<{ members: string }> }>;
    for (const q of queues) for (const g of q.groups) g.members += '&limit=1';
    await route.fulfill({ response: res, json: queues });
  });
  await page.route(/\/api\/messages\?(?!.*limit=)/, (route) => route.continue({ url: `${route.request().url()}&limit=1` }));
  await login(page, 'vera');
  await page.click('#nav-queue');
  const group = page.locator('#queue-body .group');
  await group.waitFor({ timeout: 20_000 });
  assert.equal(await group.count(), 1, 'the two validation failures are one group');
  assert.match((await group.locator('h4').textContent()) ?? '', /^validation at transform \(2\): /);
  assert.match((await group.locator('.group-figures').textContent()) ?? '', /^2 waiting, oldest \d+ min, 0 overdue$/);
  assert.equal(await page.locator('#queue-body tr').count(), 0, 'no members until the group is opened');
  await group.locator('.open-group').click();
  await page.waitForSelector('#queue-body tr[data-control-id="BRW-1"]', { timeout: 10_000 });
  assert.equal(await page.locator('#queue-body tr').count(), 1);
  await page.click('#queue-body .next-members');
  await page.waitForSelector('#queue-body tr[data-control-id="BRW-2"]', { timeout: 10_000 });
  assert.equal(await page.locator('#queue-body tr').count(), 1);
  assert.match((await page.textContent('#queue-body .page-number')) ?? '', /page 2/);
  await snapshot(page);
  await page.click('#nav-search');
  await page.click('#search-form button[type=submit]');
  const seen: string[] = [];
  for (let n = 1; ; n++) {
    assert.ok(n <= 10, 'the pages end');
    await page.waitForSelector(`#message:has-text("page ${n}")`, { timeout: 10_000 });
    const rows = await page.locator('#results tbody tr').allTextContents();
    // A full page links the next one; after the last full page comes an empty one without a link.
    if (rows.length === 0) {
      assert.equal(await page.isHidden('#next-page'), true, 'an empty page links no next page');
      break;
    }
    assert.equal(rows.length, 1, `page ${n} has one row`);
    seen.push(rows[0]!);
    assert.equal(await page.isVisible('#next-page'), true, `page ${n} is full and links the next`);
    await page.click('#next-page');
  }
  assert.equal(new Set(seen).size, seen.length, 'no message twice');
  assert.ok(seen.some((r) => r.includes('BRW-1')) && seen.some((r) => r.includes('BRW-2')), seen.join('\n'));
  await page.close();
});

test('an operator finds a message by control id, dry-runs and replays its dead letter, and sees the audit entry and the queue shrink', async () => {
  const page = await browser.newPage({ viewport: { width: 1200, height: 800 } });
  await login(page, 'otto');
  await page.fill('#q-control', 'BRW-1');
  await page.click('#search-form button[type=submit]');
  await page.waitForSelector('#results tbody tr:has-text("BRW-1")', { timeout: 10_000 });
  assert.equal(await page.locator('#results tbody tr').count(), 1);
  await snapshot(page);
  await page.click('#results tbody tr button');
  await page.waitForSelector('#lineage li:has-text("dead letter")', { timeout: 10_000 });
  await snapshot(page);
  await page.click('#lineage button');
  await page.waitForSelector('#detail-title:has-text("(waiting)")', { timeout: 10_000 });
  await page.click('#dry-run');
  await page.waitForSelector('#diff:has-text("would write Bundle")', { timeout: 30_000 });
  assert.match(await page.textContent('#diff') ?? '', /\+Patient\//);
  await snapshot(page);
  await page.fill('#reason', 'gender mapping fixed');
  await page.click('#replay');
  await page.waitForSelector('#detail-title:has-text("(resolved)")', { timeout: 30_000 });
  const history = await page.textContent('#history');
  assert.match(history ?? '', /otto.*replay-finished.*gender mapping fixed/s);
  await snapshot(page);
  const shot = process.env['UPDATE_SCREENSHOTS'] === '1' ? join(REPO_DIR, 'docs', 'console.png') : join(work, 'console.png');
  assert.ok((await page.screenshot({ path: shot })).length > 10_000, 'a screenshot of the page');
  await showQueue(page);
  await page.waitForSelector('#queue-body tr[data-control-id="BRW-2"]', { timeout: 10_000 });
  assert.equal(await page.locator('#queue-body tr[data-control-id="BRW-1"]').count(), 0, 'the replayed dead letter left the queue');
  await snapshot(page);
  await page.close();
});

test('a viewer sees the dead letter read-only, with no replay button, and the API refuses a replay from that session', async () => {
  const page = await browser.newPage();
  await login(page, 'vera');
  await showQueue(page);
  await page.click('#queue-body tr[data-control-id="BRW-2"] button');
  await page.waitForSelector('#read-only', { timeout: 10_000 });
  assert.equal(await page.locator('#replay, #dry-run').count(), 0);
  await snapshot(page);
  await page.click('#nav-queue');
  await page.waitForSelector('#queue-body tr[data-control-id="BRW-2"]', { timeout: 10_000 });
  assert.equal(await page.locator('.group-actions').count(), 0, 'no group decision buttons for a viewer');
  const status = await page.evaluate(async () => {
    const s = (await (await fetch('/api/session')).json()) as { csrfToken: string };
    const q = (await (await fetch('/api/queue')).json()) as Array<{ groups: Array<{ members: string }> }>;
    const [m] = (await (await fetch(q[0]!.groups[0]!.members)).json()) as Array<{ ref: { topic: string; partition: number; offset: string } }>;
    const r = m!.ref;
    const res = await fetch(`/api/dead-letters/${encodeURIComponent(r.topic)}/${r.partition}/${r.offset}/replay`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-csrf-token': s.csrfToken },
      body: JSON.stringify({ dryRun: true }),
    });
    return res.status;
  });
  assert.equal(status, 403);
  await page.close();
});

test('an operator escalates, then resolves, a whole queue group from the queue page; each is one audit record in every member\'s history', async () => {
  const page = await browser.newPage();
  await login(page, 'otto');
  await showQueue(page);
  await page.waitForSelector('#queue-body tr[data-control-id="BRW-2"]', { timeout: 10_000 });
  assert.equal(await page.locator('.group-actions').count(), 1, 'one group waits: the validation failure of BRW-2');
  await page.fill('.group-actions .group-reason', 'every admission of this sender fails the same way');
  await page.click('.group-actions button[data-action=escalate]');
  await page.waitForSelector('#queue-body tr[data-control-id="BRW-2"]:has-text("escalated")', { timeout: 20_000 });
  assert.match((await page.textContent('#message')) ?? '', /^escalate: 1 dead letter\(s\), audit record /);
  await snapshot(page);
  await page.fill('.group-actions .group-reason', 'sender resent them corrected');
  await page.click('.group-actions button[data-action=resolve]');
  await page.waitForSelector('#message:has-text("resolve: 1 dead letter(s)")', { timeout: 20_000 });
  assert.equal(await page.locator('#queue-body tr[data-control-id="BRW-2"]').count(), 0, 'the group left the queue');
  await snapshot(page);
  const [d] = running.queries.deadLetters({ status: 'all' }).filter((x) => x.controlId === 'BRW-2');
  assert.equal(d?.status, 'resolved');
  assert.deepEqual(d?.history.map((h) => [h.operator, h.action, h.reason]), [
    ['otto', 'escalate', 'every admission of this sender fails the same way'],
    ['otto', 'resolve', 'sender resent them corrected'],
  ]);
  await page.close();
});

test('the channel overview of a console run on its own shows the listener and connections as unknown, and says why', async () => {
  const page = await browser.newPage();
  await login(page, 'vera');
  await page.click('#nav-channels');
  const name = running.queries.deadLetters({ status: 'all' })[0]!.channel;
  const row = page.locator(`#channels-body tr[data-channel="${name}"]`);
  await row.waitFor({ timeout: 20_000 });
  const cells = await row.locator('td').allTextContents();
  assert.deepEqual(cells.slice(0, 3), [name, 'unknown', 'unknown']);
  assert.match(cells[4] ?? '', /^AA \d+/, 'ACK codes of the last hour');
  assert.match((await page.textContent('#channels-unknown')) ?? '', /listener: known only inside the engine process: run the console with hl7-engine start --console/);
  await snapshot(page);
  await page.close();
});

test('logging out ends the session: the login form comes back, also after a reload, and the API answers 401', async () => {
  const page = await browser.newPage();
  await login(page, 'otto');
  await page.click('#logout');
  await page.waitForSelector('#login:not([hidden])', { timeout: 10_000 });
  await page.reload();
  await page.waitForSelector('#login:not([hidden])', { timeout: 10_000 });
  assert.equal(await page.evaluate(async () => (await fetch('/api/queue')).status), 401);
  await page.close();
});

test('no page showed a name or an identifier of the test patients', () => {
  assert.ok(pagesSeen.length >= 6, `${pagesSeen.length} pages checked`);
  for (const html of pagesSeen) for (const v of PHI) assert.ok(!html.includes(v), `a page shows ${v}`);
});
