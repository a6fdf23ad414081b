/**
 * What the console tests share: users in a fresh users file, logging in over HTTP, and calling
 * the API as someone (with the CSRF token on every change unless a test leaves it out).
 */
import assert from 'node:assert/strict';
import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import type { Kafka } from 'kafkajs';
import type { Page } from 'playwright-core';
import { runUsers, type Role } from '../../src/auth/index.js';
import type { ChannelConfig } from '../../src/channel/index.js';
import { startConsole, type RunningConsole } from '../../src/console/index.js';
import type { Destination } from '../../src/delivery/index.js';
import { createLogger } from '../../src/ops/index.js';
import { REPO_DIR } from '../support/repo.js';

export const PASSWORD = 'a long enough secret';

export interface Client {
  readonly cookie: string;
  readonly csrf: string;
}

export interface Answer {
  readonly status: number;
  // JSON as the API answered it: tests read fields the OpenAPI document describes.
  readonly body: any;
  readonly text: string;
  /** The Link header (the message search's next page), or null. */
  readonly link: string | null;
}

const GENDER_FIXED = '      gender: "PID-8 | code(hl7-0001)"';
const GENDER_BROKEN = '      gender: "PID-8"';

/**
 * A copy of the default mapping set under WORK/mappings/adt-set, broken on purpose: Patient.gender
 * takes PID-8 as sent, so "F" fails validation and admissions are dead-lettered by the
 * transform. `fix()` restores the table lookup, as an analyst would before replaying.
 */
export function brokenGenderMapping(work: string): { setDir: string; fix(): void } {
  const setDir = join(work, 'mappings', 'adt-set');
  cpSync(join(REPO_DIR, 'mappings', 'default'), setDir, { recursive: true });
  const file = join(setDir, 'common.yaml');
  const common = readFileSync(file, 'utf8');
  assert.ok(common.includes(GENDER_FIXED), 'the default mapping set maps gender through table 0001');
  writeFileSync(file, common.replace(GENDER_FIXED, GENDER_BROKEN));
  return { setDir, fix: () => writeFileSync(file, common) };
}

/** Adds each user with PASSWORD to `usersFile` (created when missing). */
export async function addUsers(usersFile: string, users: ReadonlyArray<readonly [string, Role]>): Promise<void> {
  for (const [user, role] of users) {
    const code = await runUsers(['add', user, '--role', role, '--users', usersFile], { stdout: () => undefined, stderr: () => undefined, readSecret: async () => PASSWORD });
    assert.equal(code, 0, `users add ${user}`);
  }
}

/** A console on `channels`, with a quiet logger, its index caught up with Kafka. */
export async function openTestConsole(opts: {
  kafka: Kafka; channels: ChannelConfig[]; work: string; usersFile: string; indexFile?: string; now?: () => Date; mappingsRoot?: string; destinations?: Destination[];
}): Promise<RunningConsole> {
  const running = await startConsole({
    kafka: opts.kafka,
    channels: opts.channels,
    ...(opts.destinations ? { destinations: opts.destinations } : {}),
    logger: createLogger({ level: 'fatal', destination: new Writable({ write: (_c, _e, cb) => cb() }) }),
    port: 0,
    indexFile: opts.indexFile ?? join(opts.work, 'index.sqlite'),
    usersFile: opts.usersFile,
    checkpointDir: join(opts.work, 'checkpoints'),
    ...(opts.now ? { now: opts.now } : {}),
    ...(opts.mappingsRoot ? { mappingsRoot: opts.mappingsRoot } : {}),
  });
  await running.indexer.caughtUp(60_000);
  return running;
}

export async function login(base: string, user: string): Promise<Client> {
  const res = await fetch(`${base}/api/session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ user, password: PASSWORD }) });
  assert.equal(res.status, 200, await res.clone().text());
  const cookie = res.headers.get('set-cookie') ?? '';
  const body = (await res.json()) as { csrfToken: string };
  return { cookie: cookie.split(';')[0]!, csrf: body.csrfToken };
}

/** One API call; `csrf: false` leaves the token out of a change. */
export async function call(base: string, method: string, path: string, opts: { as?: Client; body?: unknown; csrf?: boolean } = {}): Promise<Answer> {
  const headers: Record<string, string> = {};
  if (opts.as) headers['cookie'] = opts.as.cookie;
  if (opts.as && opts.csrf !== false && method !== 'GET') headers['x-csrf-token'] = opts.as.csrf;
  if (opts.body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(`${base}${path}`, { method, headers, ...(opts.body !== undefined ? { body: JSON.stringify(opts.body) } : {}), signal: AbortSignal.timeout(60_000) });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null, text, link: res.headers.get('link') };
}

/** A record position as the API's paths spell it. */
export const refPath = (r: { topic: string; partition: number; offset: string }): string => `${encodeURIComponent(r.topic)}/${r.partition}/${r.offset}`;

/**
 * The queue page with every group opened (its first page of members listed): the page shows a
 * group's counts only until an analyst opens it, and keeps it open across reloads after that.
 */
export async function showQueue(page: Page): Promise<void> {
  await page.click('#nav-queue');
  await page.waitForSelector('#queue-body h3', { timeout: 20_000 });
  for (const button of await page.locator('#queue-body .open-group', { hasText: 'Open group' }).all()) await button.click();
}
