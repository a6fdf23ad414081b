#!/usr/bin/env node
// Runs the chosen test files N times in a row, each run through scripts/run-tests.mjs (so each
// run gets its own fresh local Kafka unless KAFKA_BROKERS is set), to tell a test that passes by
// design from one that passes by luck.
//
//   node scripts/repeat-tests.mjs N <path-substring ...>
//
// Prints one line per run (pass/fail, duration, and the failing tests' names) and a summary;
// each run's full output is kept in a log file whose path is printed. Exits 1 if any run failed.
// Build first (npm run build): the runs use dist/.
import { spawn } from 'node:child_process';
import { createWriteStream, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const [countArg, ...filters] = process.argv.slice(2);
const runs = Number(countArg);
if (!Number.isInteger(runs) || runs < 1 || filters.length === 0) {
  console.error('usage: node scripts/repeat-tests.mjs N <path-substring ...>   (N >= 1, at least one substring)');
  process.exit(2);
}

const runner = new URL('./run-tests.mjs', import.meta.url).pathname;
const logDir = mkdtempSync(join(tmpdir(), 'hl7-engine-repeat-'));
console.log(`# ${runs} runs of ${filters.join(' ')}; logs in ${logDir}`);

/** One run; resolves to its exit code and the names of the tests that failed. */
function runOnce(n) {
  return new Promise((resolve) => {
    const log = join(logDir, `run-${String(n).padStart(2, '0')}.log`);
    const out = createWriteStream(log);
    const child = spawn(process.execPath, [runner, ...filters], { stdio: ['ignore', 'pipe', 'pipe'] });
    const failed = [];
    let tail = '';
    const scan = (chunk) => {
      out.write(chunk);
      tail += chunk.toString('utf8');
      const lines = tail.split('\n');
      tail = lines.pop() ?? '';
      for (const line of lines) {
        const m = /^\s*not ok \d+ - (.*)$/.exec(line);
        if (m) failed.push(m[1]);
      }
    };
    child.stdout.on('data', scan);
    child.stderr.on('data', scan);
    child.on('close', (code, signal) => {
      out.end();
      resolve({ code: code ?? (signal ? 128 : 1), failed, log });
    });
  });
}

const results = [];
for (let n = 1; n <= runs; n++) {
  const started = Date.now();
  const r = await runOnce(n);
  const seconds = ((Date.now() - started) / 1000).toFixed(0);
  const ok = r.code === 0;
  results.push(ok);
  const detail = ok ? '' : `: exit ${r.code}${r.failed.length > 0 ? `; failed: ${[...new Set(r.failed)].join(' | ')}` : ''}; log ${r.log}`;
  console.log(`run ${n}/${runs} ${ok ? 'pass' : 'FAIL'} (${seconds} s)${detail}`);
}
const passed = results.filter(Boolean).length;
console.log(`# summary: ${passed}/${runs} passed, ${runs - passed} failed (${filters.join(' ')})`);
process.exit(passed === runs ? 0 : 1);
