/**
 * Code tables (mappings/<set>/tables/<id>.yaml): v2 code → FHIR code, with an explicit rule for
 * codes a table does not know. Loaded once per mapping set and site; lookups are map reads that
 * return shared, frozen hits, since every coded field of every message goes through here.
 */
import { readdirSync, statSync } from 'node:fs';
import { basename, extname, join } from 'node:path';
import type { ValidateFunction } from 'ajv';
import { byPosition, compileSchema, ConfigError, ConfigErrorList, type SourcePosition } from '../config/index.js';
import { readCodeFile, siteError, TABLE_WORDING } from './site.js';
import type { ConverterContext, IssueSeverity, SiteConfig, TableHit, TableRegistry } from './types.js';

/** What a table does with a code it does not know. */
export type UnmappedRule =
  | { readonly kind: 'fixed'; readonly hit: TableHit }
  | { readonly kind: 'passthrough'; readonly system: string | undefined }
  | { readonly kind: 'none' };

export interface CodeTable {
  readonly id: string;
  readonly title: string | undefined;
  /** The YAML file it came from. */
  readonly file: string;
  readonly targetSystem: string;
  /** v2 code → hit, site additions included. */
  readonly entries: ReadonlyMap<string, TableHit>;
  readonly unmapped: UnmappedRule;
  /** Severity of the unknown-code issue. */
  readonly issue: IssueSeverity;
}

/** A table file's content once it passed the schema. */
interface RawEntry {
  code: string;
  display?: string;
  system?: string;
}
interface RawTable {
  id: string;
  title?: string;
  source?: { table?: string; system?: string; sheet?: string };
  target: { system: string; element?: string; binding?: string };
  unmapped: { use: string | RawEntry; issue?: IssueSeverity };
  map: Record<string, string | RawEntry>;
}

const TABLE_FILE = /\.ya?ml$/i;

/** Codes are compared without case and surrounding spaces on the second try. */
function fold(code: string): string {
  return code.trim().toUpperCase();
}

/**
 * A code as it may appear in an issue. Codes are not PHI, but a value sent in the wrong field
 * can be (a name where a sex code belongs), so only short code-like values are quoted.
 */
function quotable(code: string): string {
  // HL7 delimiters mean a whole field or component was sent (a name, an address), not a code.
  return /^[!-\x5b\x5d\x5f-\x7b\x7d]( ?[!-\x5b\x5d\x5f-\x7b\x7d]){0,19}$/.test(code) && !/[&|]/.test(code) ? `'${code}'` : `of ${code.length} characters`;
}

/** The registry converters use: one mapping set's tables with one site's additions applied. */
export class CodeTables implements TableRegistry {
  private readonly tables: ReadonlyMap<string, CodeTable>;
  /** Per table, folded code → hit; codes whose folded forms collide are left out (ambiguous). */
  private readonly folded: ReadonlyMap<string, ReadonlyMap<string, TableHit>>;

  constructor(tables: readonly CodeTable[]) {
    this.tables = new Map(tables.map((t) => [t.id, t]));
    const folded = new Map<string, ReadonlyMap<string, TableHit>>();
    for (const table of tables) {
      const byFold = new Map<string, TableHit | null>();
      for (const [code, hit] of table.entries) {
        const key = fold(code);
        const seen = byFold.get(key);
        byFold.set(key, seen === undefined || seen === hit ? hit : null);
      }
      const usable = new Map<string, TableHit>();
      for (const [key, hit] of byFold) if (hit !== null) usable.set(key, hit);
      folded.set(table.id, usable);
    }
    this.folded = folded;
  }

  has(table: string): boolean {
    return this.tables.has(table);
  }

  get(table: string): CodeTable | undefined {
    return this.tables.get(table);
  }

  /** Table ids in name order. */
  ids(): string[] {
    return [...this.tables.keys()].sort();
  }

  /**
   * The FHIR code for a v2 code: exact match first, then ignoring case and surrounding spaces.
   * An unknown code reports one unknown-code issue and gets the table's unmapped rule. An empty
   * code is "nothing sent": undefined, no issue. A table that is not loaded reports an error
   * issue rather than throwing, since converters must not throw mid-message; mapping loaders
   * should have checked `has` already.
   */
  lookup(table: string, code: string, ctx: ConverterContext, opts: { readonly keptAs?: string } = {}): TableHit | undefined {
    const t = this.tables.get(table);
    if (t === undefined) {
      ctx.issues.report({
        severity: 'error',
        code: 'unknown-code',
        table,
        location: ctx.location,
        message: `code table '${table}' is not loaded; add tables/${table}.yaml to the mapping set or fix the table name in the mapping`,
      });
      return undefined;
    }
    const exact = t.entries.get(code);
    if (exact !== undefined) return exact;
    const trimmed = code.trim();
    if (trimmed === '') return undefined;
    const loose = this.folded.get(table)?.get(fold(trimmed));
    if (loose !== undefined) return loose;

    const rule = t.unmapped;
    // `keptAs`: the caller keeps a code the table has no entry for elsewhere (e.g. as text).
    const outcome = rule.kind === 'fixed' ? `used '${rule.hit.code}' instead` : rule.kind === 'passthrough' ? 'kept the code as sent' : opts.keptAs !== undefined ? `kept it as ${opts.keptAs}` : 'left the value out';
    ctx.issues.report({
      severity: t.issue,
      code: 'unknown-code',
      table,
      location: ctx.location,
      message: `code ${quotable(trimmed)} is not in table ${table}${t.title === undefined ? '' : ` (${t.title})`}; ${outcome}. Add it to the table or to the site's tableAdditions.${table}`,
    });
    switch (rule.kind) {
      case 'fixed':
        return rule.hit;
      case 'passthrough':
        return rule.system === undefined ? { code: trimmed, unmapped: true } : { code: trimmed, system: rule.system, unmapped: true };
      case 'none':
        return undefined;
    }
  }
}

function hit(entry: string | RawEntry, targetSystem: string, unmapped: boolean): TableHit {
  const e = typeof entry === 'string' ? { code: entry } : entry;
  return Object.freeze({
    code: e.code,
    system: e.system ?? targetSystem,
    ...(e.display === undefined ? {} : { display: e.display }),
    unmapped,
  });
}

function unmappedRule(raw: RawTable, entries: ReadonlyMap<string, TableHit>): UnmappedRule {
  const use = raw.unmapped.use;
  if (use === 'passthrough') return { kind: 'passthrough', system: raw.source?.system };
  if (use === 'none') return { kind: 'none' };
  const fixed = hit(use, raw.target.system, true);
  if (fixed.display !== undefined) return { kind: 'fixed', hit: fixed };
  // "unknown" reads better with the display the table already gives it (U → unknown, "Unknown").
  const known = [...entries.values()].find((h) => h.code === fixed.code && h.system === fixed.system && h.display !== undefined);
  return { kind: 'fixed', hit: known?.display === undefined ? fixed : Object.freeze({ code: fixed.code, system: fixed.system, display: known.display, unmapped: true }) };
}

let tableValidator: ValidateFunction<RawTable> | null = null;

interface TableRead {
  readonly raw: RawTable | null;
  readonly errors: ConfigError[];
  readonly at: (path: readonly string[]) => SourcePosition;
}

function readTable(file: string): TableRead {
  tableValidator ??= compileSchema<RawTable>('table.schema.json');
  const read = readCodeFile(file, tableValidator, TABLE_WORDING);
  const errors = [...read.errors];
  const report = (path: readonly string[], detail: string, rule: string): void => {
    const pos = read.at(path);
    errors.push(new ConfigError(file, pos.line, pos.col, detail, rule));
  };
  const value = read.value;
  if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
    const v = value as Record<string, unknown>;
    const stem = basename(file, extname(file));
    const id = v['id'];
    if (typeof id === 'string' && id !== stem) {
      report(['id'], `id '${id}' differs from the file name '${stem}'; mappings name tables by id, so keep them equal (rename the file or the id)`, 'id');
    }
    const unmapped = v['unmapped'];
    const source = v['source'];
    const sourceSystem = source !== null && typeof source === 'object' ? (source as Record<string, unknown>)['system'] : undefined;
    if (unmapped !== null && typeof unmapped === 'object' && (unmapped as Record<string, unknown>)['use'] === 'passthrough' && sourceSystem === undefined) {
      report(['unmapped', 'use'], 'unmapped.use passthrough keeps the v2 code, which needs source.system (the v2 table\'s code system URI) to say what the code means', 'passthrough');
    }
  }
  const valid = read.valid && errors.length === read.errors.length;
  return { raw: valid ? (value as RawTable) : null, errors: errors.sort(byPosition), at: read.at };
}

function tableFiles(dir: string): string[] {
  return readdirSync(dir)
    .filter((name) => TABLE_FILE.test(name) && !name.startsWith('.'))
    .sort()
    .map((name) => join(dir, name))
    .filter((path) => {
      try {
        return statSync(path).isFile();
      } catch {
        return false;
      }
    });
}

/**
 * Every table in `dir` with `site`'s additions, and every problem found (all files, then the
 * site's additions). A broken file is left out; the others still load.
 */
export function checkTables(dir: string, site: SiteConfig): { tables: CodeTables; errors: ConfigError[] } {
  let files: string[];
  try {
    files = tableFiles(dir);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'unknown error';
    return { tables: new CodeTables([]), errors: [new ConfigError(dir, 1, 1, `cannot read the tables folder (${code})`, 'read')] };
  }

  const errors: ConfigError[] = [];
  const raws = new Map<string, { raw: RawTable; file: string }>();
  for (const file of files) {
    const { raw, errors: fileErrors, at } = readTable(file);
    errors.push(...fileErrors);
    if (raw === null) continue;
    const earlier = raws.get(raw.id);
    if (earlier !== undefined) {
      const pos = at(['id']);
      errors.push(new ConfigError(file, pos.line, pos.col, `table id '${raw.id}' is already used by ${earlier.file}`, 'duplicate-id'));
      continue;
    }
    raws.set(raw.id, { raw, file });
  }

  const tables: CodeTable[] = [];
  for (const [id, { raw, file }] of raws) {
    const target = raw.target.system;
    const entries = new Map<string, TableHit>();
    for (const [code, entry] of Object.entries(raw.map)) entries.set(code, hit(entry, target, false));
    const additions = site.tableAdditions[id];
    if (additions !== undefined) {
      for (const [code, fhirCode] of Object.entries(additions)) {
        // Reuse the display the table already gives that FHIR code, so local codes read the same.
        const known = [...entries.values()].find((h) => h.code === fhirCode && h.system === target);
        entries.set(code, known ?? hit(fhirCode, target, false));
      }
    }
    tables.push({
      id,
      title: raw.title,
      file,
      targetSystem: target,
      entries,
      unmapped: unmappedRule(raw, entries),
      issue: raw.unmapped.issue ?? 'warning',
    });
  }

  for (const id of Object.keys(site.tableAdditions).sort()) {
    if (raws.has(id) || files.some((f) => basename(f, extname(f)) === id)) continue;
    errors.push(
      siteError(site, ['tableAdditions', id], `tableAdditions names table '${id}', which is not in ${dir}; check the table id (e.g. hl7-0004-class)`, 'table'),
    );
  }
  return { tables: new CodeTables(tables), errors };
}

/**
 * Loads every *.yaml table in `dir` with `site`'s additions applied. Throws a ConfigErrorList
 * (a ConfigError at the first problem, carrying all of them) when any file or addition is wrong.
 */
export function loadTables(dir: string, site: SiteConfig): CodeTables {
  const { tables, errors } = checkTables(dir, site);
  if (errors.length > 0) throw new ConfigErrorList(errors);
  return tables;
}
