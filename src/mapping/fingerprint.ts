import { createHash } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import { join, relative } from 'node:path';

/**
 * A digest of every file in a mapping set folder (paths and bytes), so a reload can tell an
 * edited set from an unchanged one without comparing loaded structures. A missing folder has a
 * digest of its own; loading it reports the problem.
 */
export function mappingFingerprint(dir: string): string {
  const hash = createHash('sha256');
  const walk = (at: string): void => {
    let entries;
    try {
      entries = readdirSync(at, { withFileTypes: true });
    } catch {
      hash.update(`missing:${relative(dir, at)}\0`);
      return;
    }
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const e of entries) {
      const path = join(at, e.name);
      if (e.isDirectory()) walk(path);
      else if (e.isFile()) {
        let bytes: Buffer;
        try {
          bytes = readFileSync(path);
        } catch {
          continue; // removed while we read: the watcher reports that change too
        }
        hash.update(`${relative(dir, path)}\0${bytes.length}\0`).update(bytes);
      }
    }
  };
  walk(dir);
  return hash.digest('hex');
}
