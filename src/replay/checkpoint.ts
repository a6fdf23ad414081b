/**
 * Where a replay stands, in a small JSON file per replay id, so an interrupted replay (Ctrl-C,
 * a crash, or `--limit`) resumes where it stopped instead of starting over. It holds the end
 * offsets captured when the replay began, so a resumed run reads the same slice, and the next
 * offset per partition, advanced only after Kafka acknowledged everything before it: a crash
 * between the two redoes a few records, which deterministic ids make harmless.
 */
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { OffsetRange } from '../records/index.js';
import type { ReplaySelection } from './selection.js';

export const CHECKPOINT_VERSION = 1;

export interface ReplayCounts {
  read: number;
  selected: number;
  converted: number;
  storedRaw: number;
  failedAgain: number;
  skipped: number;
}

export interface Checkpoint {
  readonly v: typeof CHECKPOINT_VERSION;
  readonly replayId: string;
  readonly channel: string;
  readonly selection: ReplaySelection;
  readonly reason: string;
  readonly operator: string;
  readonly startedAt: string;
  /** Exclusive end offset per partition, captured at the first start. */
  readonly ends: Readonly<Record<string, string>>;
  /** Next offset to read per partition. */
  next: Record<string, string>;
  counts: ReplayCounts;
  /** Source records this replay resolved so far (converted or stored again). */
  resolved: OffsetRange[];
  done: boolean;
}

export function defaultCheckpointDir(env: NodeJS.ProcessEnv = process.env): string {
  return resolve(env['HL7_ENGINE_STATE'] ?? '.hl7-engine', 'replay');
}

function fileOf(dir: string, replayId: string): string {
  if (!/^[A-Za-z0-9._-]+$/.test(replayId)) throw new Error(`replay id "${replayId}" may hold letters, digits, '.', '_' and '-' only`);
  return join(dir, `${replayId}.json`);
}

export function loadCheckpoint(dir: string, replayId: string): Checkpoint {
  const file = fileOf(dir, replayId);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    throw new Error(`no checkpoint for replay ${replayId} in ${dir} (expected ${file})`);
  }
  const c = JSON.parse(text) as Checkpoint;
  if (c.v !== CHECKPOINT_VERSION || c.replayId !== replayId) throw new Error(`${file} is not a version ${CHECKPOINT_VERSION} checkpoint of replay ${replayId}`);
  return c;
}

/** Written to a temporary file and renamed, so a crash never leaves half a checkpoint. */
export function saveCheckpoint(dir: string, c: Checkpoint): void {
  mkdirSync(dir, { recursive: true });
  const file = fileOf(dir, c.replayId);
  writeFileSync(`${file}.tmp`, `${JSON.stringify(c, null, 2)}\n`);
  renameSync(`${file}.tmp`, file);
}
