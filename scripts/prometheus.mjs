#!/usr/bin/env node
// A real Prometheus for the tests and for a quick local look at the engine's metrics, from
// Debian's `prometheus` package (it also ships promtool). Installs it when missing, then runs it
// on 127.0.0.1 with a throwaway config and data folder.
//
//   node scripts/prometheus.mjs install
//   node scripts/prometheus.mjs start --target 127.0.0.1:9464 [--rules FILE]... [--port 9090]
//       (runs until Ctrl-C, then removes its temp folder)
//
// As a module: ensureDebianPackage(), ensurePrometheus(), startPrometheus().
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync, statSync, writeFileSync, openSync, closeSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';

function which(binary) {
  const r = spawnSync('sh', ['-c', `command -v ${binary}`], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : null;
}

let aptUpdated = false;

/**
 * Test files run in parallel and may both need a package: apt's own lock on the package lists
 * makes a concurrent `apt-get update` fail rather than wait, so installs queue on this lock.
 */
function aptLock() {
  const dir = join(tmpdir(), 'hl7-engine-apt.lock');
  const deadline = Date.now() + 10 * 60_000;
  for (;;) {
    try {
      mkdirSync(dir);
      return () => rmSync(dir, { recursive: true, force: true });
    } catch (err) {
      if (err.code !== 'EEXIST') throw err;
      // A holder killed mid-install leaves the folder behind; apt itself is done long before this.
      const age = Date.now() - statSync(dir, { throwIfNoEntry: false })?.mtimeMs;
      if (age > 10 * 60_000) rmSync(dir, { recursive: true, force: true });
      if (Date.now() > deadline) throw new Error(`waited 10 minutes for ${dir} (another apt-get install); remove it if no install runs`);
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 500);
    }
  }
}

/**
 * Installs a Debian package when `binary` is not on PATH. apt waits for dpkg's lock, so two test
 * files installing at once queue instead of failing.
 */
export function ensureDebianPackage(pkg, binary, log = (m) => process.stderr.write(`${m}\n`)) {
  const found = which(binary);
  if (found) return found;
  if (!which('apt-get')) throw new Error(`${binary} is missing and apt-get is not available to install Debian's ${pkg} package`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const lock = ['-o', 'DPkg::Lock::Timeout=300'];
  const run = (args) => {
    const r = spawnSync('apt-get', [...lock, ...args], { env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    if (r.status !== 0) {
      throw new Error(`apt-get ${args.join(' ')} failed (exit ${r.status}; installing needs root): ${(r.stderr || r.stdout).trim().split('\n').slice(-3).join(' | ')}`);
    }
  };
  const release = aptLock();
  try {
    // Another process may have installed it while this one waited for the lock.
    const meanwhile = which(binary);
    if (meanwhile) return meanwhile;
    log(`${binary} not found: installing Debian's ${pkg} package`);
    if (!aptUpdated) {
      run(['update', '-q']);
      aptUpdated = true;
    }
    run(['install', '-y', '-q', '--no-install-recommends', pkg]);
  } finally {
    release();
  }
  const installed = which(binary);
  if (!installed) throw new Error(`installed Debian's ${pkg} but ${binary} is still not on PATH`);
  return installed;
}

/** Paths of prometheus and promtool, installing Debian's package first if needed. */
export function ensurePrometheus(log) {
  const prometheus = ensureDebianPackage('prometheus', 'prometheus', log);
  const promtool = which('promtool');
  if (!promtool) throw new Error('Debian\'s prometheus package is installed but promtool is not on PATH');
  return { prometheus, promtool };
}

export function freePort(host = '127.0.0.1') {
  return new Promise((res, rej) => {
    const s = createServer();
    s.once('error', rej);
    s.listen({ host, port: 0 }, () => {
      const { port } = s.address();
      s.close(() => res(port));
    });
  });
}

function configYaml({ targets, ruleFiles, scrapeIntervalSeconds, evaluationIntervalSeconds }) {
  // JSON is valid YAML, and keeps rule paths with odd characters safe.
  return JSON.stringify(
    {
      global: { scrape_interval: `${scrapeIntervalSeconds}s`, evaluation_interval: `${evaluationIntervalSeconds}s`, scrape_timeout: `${scrapeIntervalSeconds}s` },
      rule_files: ruleFiles.map((f) => resolve(f)),
      scrape_configs: [{ job_name: 'hl7-engine', static_configs: [{ targets }] }],
    },
    null,
    2,
  );
}

/**
 * Starts Prometheus on 127.0.0.1 scraping `targets` (host:port) as job "hl7-engine".
 * Resolves once /-/ready answers and (unless waitForFirstScrape is false) every target was scraped
 * once; stop() kills it and removes its folder.
 */
export async function startPrometheus({ targets, ruleFiles = [], scrapeIntervalSeconds = 1, evaluationIntervalSeconds = 1, port, readyTimeoutMs = 30_000, waitForFirstScrape = true, log } = {}) {
  if (!targets || targets.length === 0) throw new Error('startPrometheus needs at least one scrape target (host:port)');
  const { prometheus } = ensurePrometheus(log);
  const dir = mkdtempSync(join(tmpdir(), 'hl7-prometheus-'));
  const configFile = join(dir, 'prometheus.yml');
  writeFileSync(configFile, configYaml({ targets, ruleFiles, scrapeIntervalSeconds, evaluationIntervalSeconds }));
  const listenPort = port ?? (await freePort());
  const logFile = join(dir, 'prometheus.log');
  const out = openSync(logFile, 'a');
  const child = spawn(
    prometheus,
    [
      `--config.file=${configFile}`,
      `--storage.tsdb.path=${join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${listenPort}`,
      '--storage.tsdb.retention.time=1h',
      '--log.level=warn',
    ],
    { stdio: ['ignore', out, out] },
  );
  closeSync(out);
  let exited = null;
  child.on('exit', (code, signal) => {
    exited = { code, signal };
  });
  const url = `http://127.0.0.1:${listenPort}`;
  const stop = async () => {
    if (exited === null) {
      const gone = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 5000);
      await gone;
      clearTimeout(t);
    }
    rmSync(dir, { recursive: true, force: true });
  };
  const deadline = Date.now() + readyTimeoutMs;
  for (;;) {
    if (exited !== null) {
      const tail = readFileSync(logFile, 'utf8').trim().split('\n').slice(-5).join('\n');
      await stop();
      throw new Error(`prometheus exited (code ${exited.code}) before it was ready:\n${tail}`);
    }
    const ok = await fetch(`${url}/-/ready`).then((r) => r.ok, () => false);
    if (ok) break;
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`prometheus on ${url} not ready after ${readyTimeoutMs} ms (log: ${logFile})`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  // Prometheus applies discovered targets only every 5 s, so the first scrape comes a few
  // seconds after /-/ready; callers that generate traffic next want it counted from a baseline.
  if (waitForFirstScrape) {
    for (;;) {
      const active = await fetch(`${url}/api/v1/targets`)
        .then((r) => r.json())
        .then((b) => b.data.activeTargets, () => []);
      const scraped = active.filter((t) => !t.lastScrape.startsWith('0001-'));
      if (active.length === targets.length && scraped.length === targets.length) break;
      if (Date.now() > deadline) {
        await stop();
        throw new Error(`prometheus on ${url} did not scrape ${targets.join(', ')} within ${readyTimeoutMs} ms`);
      }
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  return { url, port: listenPort, dir, configFile, logFile, pid: child.pid, stop };
}

async function main() {
  const [cmd, ...rest] = process.argv.slice(2);
  if (cmd === 'install') {
    const paths = ensurePrometheus();
    process.stdout.write(`prometheus: ${paths.prometheus}\npromtool: ${paths.promtool}\n`);
    return;
  }
  if (cmd === 'start') {
    const { values } = parseArgs({
      args: rest,
      options: { target: { type: 'string', multiple: true }, rules: { type: 'string', multiple: true }, port: { type: 'string' } },
    });
    const p = await startPrometheus({
      targets: values.target ?? ['127.0.0.1:9464'],
      ruleFiles: values.rules ?? [],
      scrapeIntervalSeconds: 5,
      evaluationIntervalSeconds: 5,
      ...(values.port ? { port: Number(values.port) } : {}),
    });
    process.stdout.write(`prometheus at ${p.url} scraping ${(values.target ?? ['127.0.0.1:9464']).join(', ')} (log: ${p.logFile}); Ctrl-C stops it\n`);
    const shutdown = () => void p.stop().then(() => process.exit(0));
    process.on('SIGINT', shutdown);
    process.on('SIGTERM', shutdown);
    return;
  }
  process.stderr.write('usage: node scripts/prometheus.mjs install | start [--target HOST:PORT]... [--rules FILE]... [--port N]\n');
  process.exit(2);
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((err) => {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
}
