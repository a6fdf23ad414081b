/**
 * The console's users: a JSON file the operator manages with `hl7-engine users`, holding names,
 * roles and scrypt hashes only. Written whole to a temporary file and renamed, mode 0600, so a
 * crash never leaves half a file and other local users cannot read the hashes.
 */
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';

export const ROLES = ['viewer', 'operator', 'admin'] as const;
export type Role = (typeof ROLES)[number];

/** viewer: metadata and counts; operator: also decisions and content views; admin: also users. */
export function roleAllows(role: Role, needed: Role): boolean {
  return ROLES.indexOf(role) >= ROLES.indexOf(needed);
}

export function isRole(x: unknown): x is Role {
  return typeof x === 'string' && (ROLES as readonly string[]).includes(x);
}

export interface UserEntry {
  readonly name: string;
  readonly role: Role;
  readonly hash: string;
  readonly changedAt: string;
}

export interface UsersFile {
  readonly v: 1;
  readonly users: readonly UserEntry[];
}

/** $HL7_ENGINE_USERS, else $HL7_ENGINE_STATE/users.json, else ./.hl7-engine/users.json. */
export function defaultUsersPath(env: NodeJS.ProcessEnv = process.env): string {
  if (env['HL7_ENGINE_USERS']) return resolve(env['HL7_ENGINE_USERS']);
  return resolve(env['HL7_ENGINE_STATE'] ?? '.hl7-engine', 'users.json');
}

/** User names go into audit records and URLs: letters, digits and . _ @ - only. */
export function userNameProblem(name: string): string | null {
  return /^[A-Za-z0-9._@-]{1,64}$/.test(name) ? null : `a user name is 1-64 letters, digits or . _ @ - (got "${name}")`;
}

export class UsersFileError extends Error {}

export function readUsers(path: string): UsersFile {
  if (!existsSync(path)) return { v: 1, users: [] };
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new UsersFileError(`${path}: not a users file (${err instanceof Error ? err.message : String(err)})`);
  }
  const f = parsed as Partial<UsersFile>;
  if (f.v !== 1 || !Array.isArray(f.users)) throw new UsersFileError(`${path}: not a users file (expected {"v":1,"users":[...]})`);
  f.users.forEach((u: Partial<UserEntry>, i: number) => {
    if (typeof u.name !== 'string' || !isRole(u.role) || typeof u.hash !== 'string') {
      throw new UsersFileError(`${path}: users[${i}] needs name, role (${ROLES.join('|')}) and hash`);
    }
  });
  return f as UsersFile;
}

export function writeUsers(path: string, file: UsersFile): void {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = join(dirname(path), `.users-${process.pid}-${Date.now()}.tmp`);
  writeFileSync(tmp, `${JSON.stringify(file, null, 2)}\n`, { mode: 0o600 });
  chmodSync(tmp, 0o600);
  renameSync(tmp, path);
}
