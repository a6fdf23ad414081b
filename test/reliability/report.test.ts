/**
 * scripts/reliability-report.mjs, run as `npm test` runs it, on figure files written here: a
 * reliability scenario is PASSED only when its test got past its last assertion. One that failed
 * before or after recording its figures, or left none in this run, shows as FAILED, and a full
 * run whose tests passed regardless is failed by the report.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO_DIR } from '../support/repo.js';

const SCRIPT = join(REPO_DIR, 'scripts', 'reliability-report.mjs');
const SCENARIOS = ['kill-9', 'broker-outage', 'replay', 'flood', 'property', 'hostile-keys'] as const;
const RUN_STARTED = '2026-03-01T10:00:00.000Z';
const DURING_RUN = '2026-03-01T10:05:00.000Z';

type Outcome = 'started' | 'recorded' | 'passed';

/** A figures folder with one file per scenario, each with the given outcome (passed by default). */
function figures(outcomes: Partial<Record<(typeof SCENARIOS)[number], Outcome | 'absent' | 'old'>> = {}): string {
  const dir = mkdtempSync(join(tmpdir(), 'hl7-report-'));
  for (const scenario of SCENARIOS) {
    const outcome = outcomes[scenario] ?? 'passed';
    if (outcome === 'absent') continue;
    const numbers = outcome === 'started' || scenario === 'property' || scenario === 'hostile-keys' ? {} : { sent: 10, acked: 10, foundRaw: 10, lost: 0, duplicatesDownstream: 0 };
    writeFileSync(
      join(dir, `${scenario}.json`),
      JSON.stringify({
        scenario,
        title: `${scenario} scenario`,
        ...numbers,
        ...(scenario === 'property' && outcome !== 'started' ? { inputsFuzzed: 100 } : {}),
        outcome: outcome === 'old' ? 'passed' : outcome,
        at: outcome === 'old' ? '2026-02-01T00:00:00.000Z' : DURING_RUN,
      }),
    );
  }
  return dir;
}

function report(dir: string, args: string[]): { code: number | null; text: string; said: string } {
  const out = join(dir, 'RELIABILITY.md');
  const r = spawnSync(process.execPath, [SCRIPT, '--figures', dir, '--out', out, '--since', RUN_STARTED, ...args], { encoding: 'utf8', timeout: 60_000 });
  let text = '';
  try {
    text = readFileSync(out, 'utf8');
  } catch {
    // not written
  }
  return { code: r.status, text, said: r.stdout + r.stderr };
}

/** The Status cell of a scenario's row in the summary table. */
function status(text: string, scenario: string): string {
  const names: Record<string, string> = {
    'kill-9': '1. Engine killed with SIGKILL',
    'broker-outage': '2. Kafka broker stopped for 10 s',
    replay: '3. Broken mapping, fix, replay',
    flood: '4. Flood of bad traffic beside good traffic',
    property: '5. Property-based tests of framer and parser',
    'hostile-keys': '6. Hostile senders: over-long MSH fields and large batches',
  };
  const row = text.split('\n').find((l) => l.startsWith(`| ${names[scenario]} |`));
  assert.ok(row, `a summary row for ${scenario}`);
  return row.split('|')[2]!.trim();
}

test('a full run where every scenario passed reports each PASSED and exits 0', () => {
  const r = report(figures(), ['--full', '--exit-code', '0']);
  assert.equal(r.code, 0, r.said);
  for (const s of SCENARIOS) assert.equal(status(r.text, s), 'PASSED', s);
  assert.doesNotMatch(r.text, /FAILED/);
});

test('a scenario that failed before recording its figures is FAILED in a rewritten report, not left green', () => {
  const r = report(figures({ 'kill-9': 'started' }), ['--full', '--exit-code', '1']);
  assert.equal(r.code, 0, 'the run already fails; the report only has to say why');
  assert.equal(status(r.text, 'kill-9'), '**FAILED before recording its figures**');
  assert.match(r.text, /- \*\*FAILED scenarios: kill-9\*\*/);
  assert.match(r.text, /kill-9 scenario\*\*: failed before its figures were recorded/);
  assert.equal(status(r.text, 'flood'), 'PASSED');
});

test('a scenario that failed after recording its figures is FAILED, its figures still shown', () => {
  const r = report(figures({ flood: 'recorded' }), ['--full', '--exit-code', '1']);
  assert.equal(status(r.text, 'flood'), '**FAILED after recording the figures below**');
  assert.match(r.text, /\*\*flood scenario\*\*\n\n\| Figure \| Value \|/);
});

test('in a full run, a scenario with no figures from this run (none, or only older ones) is FAILED', () => {
  const r = report(figures({ replay: 'absent', property: 'old' }), ['--full', '--exit-code', '1']);
  assert.match(status(r.text, 'replay'), /^\*\*FAILED: no figures from this run/);
  assert.match(status(r.text, 'property'), /^\*\*FAILED: no figures from this run/);
});

test('a full run whose tests passed although a scenario did not is failed by the report (exit 1)', () => {
  const r = report(figures({ 'broker-outage': 'started' }), ['--full', '--exit-code', '0']);
  assert.equal(r.code, 1, r.said);
  assert.match(r.said, /reliability scenarios broker-outage did not/);
});

test('a filtered run with figures for some scenarios only prints them and leaves the report alone', () => {
  const r = report(figures({ replay: 'absent', flood: 'absent' }), ['--exit-code', '0']);
  assert.equal(r.code, 0, r.said);
  assert.equal(r.text, '', 'RELIABILITY.md not written');
  assert.match(r.said, /not rewritten; no figures for replay, flood/);
});
