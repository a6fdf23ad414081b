/**
 * The alert rules and the stack's Prometheus config, checked by promtool from Debian's
 * prometheus package (installed by scripts/prometheus.mjs when missing). The rule unit tests
 * themselves (which situation fires which alert) are in prometheus/rules/hl7-engine.rules.test.yml.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';

const ROOT = new URL('../../../', import.meta.url);
const RULES_DIR = new URL('prometheus/rules/', ROOT).pathname;
const RULES = join(RULES_DIR, 'hl7-engine.rules.yml');
const RULE_TESTS = join(RULES_DIR, 'hl7-engine.rules.test.yml');
const STACK_CONFIG = new URL('prometheus/prometheus.yml', ROOT).pathname;

interface PrometheusScript {
  ensurePrometheus(): { prometheus: string; promtool: string };
}
const script = (await import(new URL('scripts/prometheus.mjs', ROOT).href)) as PrometheusScript;
// First run on a fresh machine: apt installs Debian's prometheus here (tens of seconds).
const { promtool } = script.ensurePrometheus();

function run(args: string[], cwd = RULES_DIR): { status: number | null; out: string } {
  const r = spawnSync(promtool, args, { cwd, encoding: 'utf8', timeout: 60_000 });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

interface RuleFile {
  groups: Array<{ rules: Array<{ alert?: string; labels?: Record<string, string>; annotations?: Record<string, string> }> }>;
}
interface RuleTests {
  tests: Array<{ alert_rule_test?: Array<{ alertname: string; exp_alerts: unknown[] }> }>;
}

test('promtool check rules accepts the alert rules', () => {
  const r = run(['check', 'rules', RULES]);
  assert.equal(r.status, 0, r.out);
  assert.match(r.out, /SUCCESS: 15 rules found/);
});

test('promtool test rules passes: every alert fires in its situation and stays quiet in the look-alike', () => {
  const r = run(['test', 'rules', RULE_TESTS]);
  assert.equal(r.status, 0, r.out);
  assert.match(r.out, /SUCCESS/);
});

test('every alert has a unit test in which it fires, and one evaluation in which it must not', () => {
  const rules = parse(readFileSync(RULES, 'utf8')) as RuleFile;
  const alerts = rules.groups.flatMap((g) => g.rules.map((r) => r.alert)).filter((a): a is string => a !== undefined);
  const tests = parse(readFileSync(RULE_TESTS, 'utf8')) as RuleTests;
  const cases = tests.tests.flatMap((t) => t.alert_rule_test ?? []);
  const fires = new Set(cases.filter((c) => c.exp_alerts.length > 0).map((c) => c.alertname));
  const quiet = new Set(cases.filter((c) => c.exp_alerts.length === 0).map((c) => c.alertname));
  assert.deepEqual(alerts.filter((a) => !fires.has(a)), [], 'alerts never tested firing');
  assert.deepEqual(alerts.filter((a) => !quiet.has(a)), [], 'alerts never tested staying quiet');
});

test('every alert carries a severity and a summary and description for the operator', () => {
  const rules = parse(readFileSync(RULES, 'utf8')) as RuleFile;
  for (const r of rules.groups.flatMap((g) => g.rules)) {
    assert.match(r.labels?.['severity'] ?? '', /^(warning|critical)$/, `${r.alert} severity`);
    assert.ok(r.annotations?.['summary'] && r.annotations['description'], `${r.alert} summary and description`);
  }
});

test('a broken rule file is refused by promtool check rules (the check can fail)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'hl7-rules-'));
  try {
    const broken = readFileSync(RULES, 'utf8').replace('for: 5m', 'for: 5 minutes');
    writeFileSync(join(dir, 'broken.yml'), broken);
    const r = run(['check', 'rules', join(dir, 'broken.yml')]);
    assert.equal(r.status, 1, r.out);
    assert.match(r.out, /not a valid duration string/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the compose stack\'s prometheus.yml passes promtool check config with the rules where compose mounts them', () => {
  const dir = mkdtempSync(join(tmpdir(), 'hl7-promcfg-'));
  try {
    // Inside the container the rules live at /etc/prometheus/rules; here, in the repository.
    const config = readFileSync(STACK_CONFIG, 'utf8');
    assert.match(config, /\/etc\/prometheus\/rules\/hl7-engine\.rules\.yml/);
    writeFileSync(join(dir, 'prometheus.yml'), config.replaceAll('/etc/prometheus/rules/', `${RULES_DIR}`));
    const r = run(['check', 'config', join(dir, 'prometheus.yml')]);
    assert.equal(r.status, 0, r.out);
    assert.match(r.out, /SUCCESS: 15 rules found/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
