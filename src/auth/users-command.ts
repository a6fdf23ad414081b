/**
 * `hl7-engine users add|remove|passwd|list`: the console's users file. Passwords are read from
 * the terminal without echo (twice), or from the first line of stdin when it is not a terminal;
 * never from the command line, where `ps` and shell history would keep them.
 */
import { parseArgs } from 'node:util';
import { hashPassword, passwordProblem } from './passwords.js';
import { defaultUsersPath, isRole, readUsers, ROLES, userNameProblem, UsersFileError, writeUsers, type UserEntry } from './users-file.js';

export const USERS_USAGE = `  hl7-engine users add NAME --role viewer|operator|admin [--users FILE]
  hl7-engine users passwd NAME [--users FILE]
  hl7-engine users remove NAME [--users FILE]
  hl7-engine users list [--users FILE]
      The operator console's users. Roles: viewer (metadata and counts), operator (also decisions
      on dead letters and audited content views), admin (also users). The password is asked for
      on the terminal (or read from the first line of stdin) and stored as a scrypt hash only.
      FILE: $HL7_ENGINE_USERS, else $HL7_ENGINE_STATE/users.json, else ./.hl7-engine/users.json.`;

export interface UsersIo {
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
  /** Reads one secret; `confirm` asks for it a second time on a terminal. */
  readonly readSecret: (prompt: string) => Promise<string>;
}

class UsageError extends Error {}

export async function runUsers(argv: string[], io: UsersIo, env: NodeJS.ProcessEnv = process.env): Promise<0 | 1 | 2> {
  let sub: string;
  let name: string | undefined;
  let role: string | undefined;
  let path: string;
  try {
    const { values, positionals } = parseArgs({ args: argv, allowPositionals: true, options: { role: { type: 'string' }, users: { type: 'string' } } });
    [sub = '', name] = positionals;
    role = values.role;
    path = values.users ?? defaultUsersPath(env);
    if (!['add', 'remove', 'passwd', 'list'].includes(sub)) throw new UsageError(`users needs add, remove, passwd or list, got ${sub || 'nothing'}`);
    if (sub !== 'list') {
      if (!name) throw new UsageError(`users ${sub} needs a NAME`);
      const problem = userNameProblem(name);
      if (problem) throw new UsageError(problem);
    }
    if (sub === 'add' && !isRole(role)) throw new UsageError(`users add needs --role ${ROLES.join('|')}${role ? `, got ${role}` : ''}`);
    if (sub !== 'add' && role !== undefined) throw new UsageError('--role applies to users add only (remove and add again to change a role)');
  } catch (err) {
    io.stderr(`${err instanceof Error ? err.message : String(err)}\nusage:\n${USERS_USAGE}\n`);
    return 2;
  }
  try {
    const file = readUsers(path);
    const existing = file.users.find((u) => u.name === name);
    if (sub === 'list') {
      for (const u of file.users) io.stdout(`${u.name}\t${u.role}\tpassword set ${u.changedAt}\n`);
      if (file.users.length === 0) io.stdout(`no users in ${path}: add one with hl7-engine users add NAME --role admin\n`);
      return 0;
    }
    if (sub === 'remove') {
      if (!existing) return notFound(io, name!, path);
      writeUsers(path, { v: 1, users: file.users.filter((u) => u.name !== name) });
      io.stdout(`removed ${name} from ${path}; their console sessions end at their next request\n`);
      return 0;
    }
    if (sub === 'add' && existing) {
      io.stderr(`${name} is already in ${path} (role ${existing.role}); use users passwd ${name} to set a new password\n`);
      return 1;
    }
    if (sub === 'passwd' && !existing) return notFound(io, name!, path);
    const password = await io.readSecret(`password for ${name}: `);
    const problem = passwordProblem(password);
    if (problem) {
      io.stderr(`${problem}; nothing changed\n`);
      return 2;
    }
    const entry: UserEntry = { name: name!, role: sub === 'add' ? (role as UserEntry['role']) : existing!.role, hash: await hashPassword(password), changedAt: new Date().toISOString() };
    writeUsers(path, { v: 1, users: [...file.users.filter((u) => u.name !== name), entry] });
    io.stdout(sub === 'add' ? `added ${name} (${entry.role}) to ${path}\n` : `new password for ${name} stored in ${path}\n`);
    return 0;
  } catch (err) {
    io.stderr(`${err instanceof UsersFileError || err instanceof Error ? err.message : String(err)}\n`);
    return 1;
  }
}

function notFound(io: UsersIo, name: string, path: string): 1 {
  io.stderr(`no user ${name} in ${path}\n`);
  return 1;
}

/**
 * A secret from the terminal without echo, asked twice; or the first line of a piped stdin.
 */
export async function readSecretFromStdin(prompt: string): Promise<string> {
  const stdin = process.stdin;
  if (!stdin.isTTY) {
    let data = '';
    for await (const chunk of stdin) {
      data += chunk.toString();
      if (data.includes('\n')) break;
    }
    return data.split(/\r?\n/)[0] ?? '';
  }
  const ask = (p: string): Promise<string> =>
    new Promise((resolve) => {
      process.stderr.write(p);
      let typed = '';
      stdin.setRawMode(true);
      stdin.resume();
      const onData = (b: Buffer): void => {
        for (const ch of b.toString('utf8')) {
          if (ch === '\r' || ch === '\n') {
            stdin.setRawMode(false);
            stdin.pause();
            stdin.off('data', onData);
            process.stderr.write('\n');
            resolve(typed);
            return;
          }
          if (ch === '\u0003') process.exit(130);
          if (ch === '\u007f') typed = typed.slice(0, -1);
          else typed += ch;
        }
      };
      stdin.on('data', onData);
    });
  const first = await ask(prompt);
  const again = await ask('again: ');
  if (first !== again) throw new Error('the two passwords differ; nothing changed');
  return first;
}
