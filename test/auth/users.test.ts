/**
 * The console's users file and its command: hashes only, roles checked, a password never on
 * the command line or in the file, and logins throttled after repeated failures.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Authenticator, hashPassword, LoginThrottle, readUsers, runUsers, SessionStore, verifyPassword } from '../../src/auth/index.js';

function usersCli(path: string, secret = 'correct horse battery') {
  return async (...argv: string[]) => {
    let out = '';
    let err = '';
    const code = await runUsers([...argv, '--users', path], { stdout: (t) => (out += t), stderr: (t) => (err += t), readSecret: async () => secret });
    return { code, out, err };
  };
}

const tmpFile = (): string => join(mkdtempSync(join(tmpdir(), 'hl7-users-')), 'users.json');

test('users add stores the name, the role and an scrypt hash, never the password, in a file only its owner can read', async () => {
  const path = tmpFile();
  const r = await usersCli(path)('add', 'ana', '--role', 'operator');
  assert.equal(r.code, 0, r.err);
  const text = readFileSync(path, 'utf8');
  assert.ok(!text.includes('correct horse battery'), 'the password is not in the file');
  const [u] = readUsers(path).users;
  assert.equal(u?.name, 'ana');
  assert.equal(u?.role, 'operator');
  assert.match(u!.hash, /^scrypt\$32768\$8\$1\$[A-Za-z0-9+/=]{24}\$[A-Za-z0-9+/=]{44}$/);
  assert.equal(statSync(path).mode & 0o777, 0o600);
});

test('the stored hash verifies the password and nothing else', async () => {
  const h = await hashPassword('correct horse battery');
  assert.equal(await verifyPassword('correct horse battery', h), true);
  assert.equal(await verifyPassword('correct horse batterY', h), false);
  assert.notEqual(await hashPassword('correct horse battery'), h, 'each hash has its own salt');
});

test('users add refuses an unknown role, a short password and a name already there', async () => {
  const path = tmpFile();
  assert.equal((await usersCli(path)('add', 'bo', '--role', 'root')).code, 2);
  const short = await usersCli(path, 'short')('add', 'bo', '--role', 'viewer');
  assert.equal(short.code, 2);
  assert.match(short.err, /at least 12 characters/);
  assert.equal((await usersCli(path)('add', 'bo', '--role', 'viewer')).code, 0);
  const again = await usersCli(path)('add', 'bo', '--role', 'admin');
  assert.equal(again.code, 1);
  assert.match(again.err, /already in/);
  assert.equal(readUsers(path).users.length, 1);
});

test('users passwd replaces the hash and keeps the role; users remove takes the user out', async () => {
  const path = tmpFile();
  await usersCli(path)('add', 'cy', '--role', 'admin');
  const before = readUsers(path).users[0]!.hash;
  assert.equal((await usersCli(path, 'another long secret')('passwd', 'cy')).code, 0);
  const after = readUsers(path).users[0]!;
  assert.notEqual(after.hash, before);
  assert.equal(after.role, 'admin');
  assert.equal(await verifyPassword('another long secret', after.hash), true);
  assert.equal((await usersCli(path)('remove', 'cy')).code, 0);
  assert.equal(readUsers(path).users.length, 0);
  assert.equal((await usersCli(path)('remove', 'cy')).code, 1);
});

test('after five failed logins for a user, the next attempt waits even with the right password', async () => {
  const path = tmpFile();
  await usersCli(path)('add', 'dee', '--role', 'viewer');
  let t = 1_000_000;
  const failures: string[] = [];
  const auth = new Authenticator(path, new SessionStore(undefined, () => t), new LoginThrottle(undefined, () => t), { onFailure: (w) => failures.push(w) });
  for (let i = 0; i < 6; i++) assert.equal((await auth.login('dee', `wrong guess ${i}`, '10.0.0.1')).ok, false);
  const blocked = await auth.login('dee', 'correct horse battery', '10.0.0.2');
  assert.equal(blocked.ok, false);
  assert.equal(!blocked.ok && blocked.why, 'throttled');
  assert.deepEqual(failures, [...Array(6).fill('bad-credentials'), 'throttled']);
  t += 60_000;
  assert.equal((await auth.login('dee', 'correct horse battery', '10.0.0.2')).ok, true, 'the wait ends');
});

test('one address trying many user names is throttled too', async () => {
  const path = tmpFile();
  const auth = new Authenticator(path);
  for (let i = 0; i < 6; i++) await auth.login(`name${i}`, 'whatever password', '10.9.9.9');
  const r = await auth.login('name-new', 'whatever password', '10.9.9.9');
  assert.equal(!r.ok && r.why, 'throttled');
});
