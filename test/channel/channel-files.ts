import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { TestContext } from 'node:test';

/** A fresh folder under the OS temp dir, removed when the test ends. */
export function channelDir(t: TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'hl7-channel-test-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/**
 * Writes `text` to `dir/name` and returns the path. Tests write YAML flush left in a template
 * literal starting with a newline; that first newline is dropped so line 1 is the first line shown.
 */
export function writeFile(dir: string, name: string, text: string): string {
  const path = join(dir, name);
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, text.startsWith('\n') ? text.slice(1) : text);
  return path;
}

/** One channel file in its own temp folder. */
export function channelFile(t: TestContext, name: string, yaml: string): string {
  return writeFile(channelDir(t), name, yaml);
}
