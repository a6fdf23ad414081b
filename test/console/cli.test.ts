/**
 * The console from the command line, as an operator starts it: the first user added with the
 * password piped in, `hl7-engine console` alone and `hl7-engine start --console` each printing
 * the URL where that user can log in. Real processes, real Kafka.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../support/net.js';
import { REPO_DIR } from '../support/repo.js';
import { uniqueChannel } from '../support/engine.js';

const CLI = join(REPO_DIR, 'dist', 'src', 'cli.js');
const PASSWORD = 'first admin password';

function run(args: string[], stdin?: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { cwd: REPO_DIR });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`hl7-engine ${args.join(' ')} did not exit within 20 s: ${stderr}`));
    }, 20_000);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    child.stdin.end(stdin ?? '');
  });
}

/** Starts a long-running command and resolves with the console URL it prints. */
async function serve(args: string[]): Promise<{ child: ChildProcess; url: string; output: () => string }> {
  // A free operations port: the default 9464 may belong to another engine on this machine.
  const env = { ...process.env, METRICS_PORT: String(await freePort()) };
  const child = spawn(process.execPath, [CLI, ...args], { cwd: REPO_DIR, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr!.on('data', (c: Buffer) => (out += c.toString()));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`no console URL within 90 s; output: ${out}`));
    }, 90_000);
    const look = (): void => {
      const m = /operator console: (https?:\/\/[^/\s]+)\//.exec(out);
      if (!m) return;
      clearTimeout(timer);
      resolve({ child, url: m[1]!, output: () => out });
    };
    child.stdout!.on('data', look);
    child.on('close', (code) => {
      clearTimeout(timer);
      reject(new Error(`exited ${code} before printing the console URL: ${out}`));
    });
  });
}

async function stop(child: ChildProcess): Promise<number | null> {
  const closed = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
  child.kill('SIGTERM');
  const bound = setTimeout(() => child.kill('SIGKILL'), 20_000);
  const code = await closed;
  clearTimeout(bound);
  return code;
}

async function setup(): Promise<{ dir: string; users: string; channels: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'hl7-console-cli-'));
  const channels = join(dir, 'channels');
  const { mkdirSync } = await import('node:fs');
  mkdirSync(channels);
  writeFileSync(join(channels, 'adt.yaml'), `name: ${uniqueChannel('concli')}\nlistener:\n  port: ${await freePort()}\n`);
  const users = join(dir, 'users.json');
  const r = await run(['users', 'add', 'admin', '--role', 'admin', '--users', users], `${PASSWORD}\n`);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /added admin \(admin\)/);
  assert.ok(!readFileSync(users, 'utf8').includes(PASSWORD));
  return { dir, users, channels };
}

async function loginWorks(url: string): Promise<void> {
  assert.equal((await fetch(`${url}/api/queue`)).status, 401);
  const res = await fetch(`${url}/api/session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ user: 'admin', password: PASSWORD }) });
  assert.equal(res.status, 200, await res.clone().text());
  const cookie = res.headers.get('set-cookie') ?? '';
  assert.match(cookie, /; HttpOnly; SameSite=Strict$/, 'no Secure flag without TLS, the rest always');
  const q = await fetch(`${url}/api/queue`, { headers: { cookie: cookie.split(';')[0]! } });
  assert.equal(q.status, 200);
}

test('users add reads the password from stdin; hl7-engine console serves the API alone and prints its URL', async () => {
  const { dir, users, channels } = await setup();
  const { child, url } = await serve(['console', '--listen', '127.0.0.1:0', '--channels', channels, '--users', users, '--index', join(dir, 'index.sqlite')]);
  try {
    await loginWorks(url);
  } finally {
    assert.equal(await stop(child), 0);
  }
});

test('hl7-engine start --console serves the console beside the listeners and prints its URL', async () => {
  const { dir, users, channels } = await setup();
  const { child, url, output } = await serve(['start', '--channels', channels, '--console', '127.0.0.1:0', '--users', users, '--index', join(dir, 'index.sqlite')]);
  try {
    await loginWorks(url);
    assert.match(output(), /channel concli-[0-9a-f]+: send MLLP/);
  } finally {
    assert.equal(await stop(child), 0);
  }
});

test('a console address that is not [HOST:]PORT is a usage error, before anything starts', async () => {
  const { users, channels } = await setup();
  const r = await run(['console', '--listen', 'nowhere', '--channels', channels, '--users', users]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /must be \[HOST:\]PORT, got nowhere/);
});
