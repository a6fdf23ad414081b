/**
 * Reading one YAML configuration file, the same way for every kind (channels, mappings, sites,
 * code tables): duplicate keys are errors, syntax errors point at their line and column, and
 * alias expansion is bounded (the "billion laughs" guard of the yaml package).
 */
import { readFileSync } from 'node:fs';
import { isPair, isScalar, LineCounter, parseDocument, visit, type Document } from 'yaml';
import { byPosition, ConfigError } from './config-error.js';
import { YamlLocator, type SourcePosition } from './yaml-locator.js';

/** One YAML file as read: what it holds and how to point into it. */
export interface YamlFile {
  readonly file: string;
  /** The file's text ('' when it could not be read). */
  readonly text: string;
  /** The parsed document, null when the file could not be read. */
  readonly doc: Document | null;
  /** What the file holds; null when it could not be read or parsed, or holds nothing. */
  readonly value: unknown;
  /** Read, syntax and alias errors, in file order. When there are any, `value` is null. */
  readonly errors: readonly ConfigError[];
  /** Where the value at `path` starts (for a missing key: the mapping it belongs in). */
  at(path: readonly string[]): SourcePosition;
  /** Where the key `path[last]` is written. */
  keyAt(path: readonly string[]): SourcePosition;
  /** A ConfigError at the value (or, with `atKey`, the key) at `path`. */
  error(path: readonly string[], detail: string, rule: string, atKey?: boolean): ConfigError;
  /** Line and column of a character offset in `text`. */
  positionOf(offset: number): SourcePosition;
  /**
   * Where character `index` (0-based) of the text value at `path` is written, so an error inside
   * a one-line expression can point at its column. Where the value starts when the file does not
   * spell the value character for character (escapes, folded or block scalars).
   */
  charAt(path: readonly string[], index: number): SourcePosition;
}

export interface ReadYamlOptions {
  /** Added to "the <kind> file is empty" (e.g. what the file needs at least). */
  readonly emptyHint?: string;
}

const NOWHERE: SourcePosition = Object.freeze({ line: 1, col: 1 });

/**
 * Reads and parses `file`. `kind` names the file in messages ("channel", "site", "table",
 * "message mapping"). A file that holds nothing is an error ('required'): every kind of
 * configuration file needs some content.
 */
export function readYaml(file: string, kind: string, opts: ReadYamlOptions = {}): YamlFile {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'unknown error';
    const error = new ConfigError(file, 1, 1, `cannot read the ${kind} file (${code})`, 'read');
    return {
      file,
      text: '',
      doc: null,
      value: null,
      errors: [error],
      at: () => NOWHERE,
      keyAt: () => NOWHERE,
      error: (_path, detail, rule) => new ConfigError(file, 1, 1, detail, rule),
      positionOf: () => NOWHERE,
      charAt: () => NOWHERE,
    };
  }

  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: true, uniqueKeys: true });
  const locator = new YamlLocator(doc, lines);
  const located = (value: unknown, errors: readonly ConfigError[]): YamlFile => ({
    file,
    text,
    doc,
    value,
    errors,
    at: (path) => locator.valueAt(path),
    keyAt: (path) => locator.keyAt(path),
    error: (path, detail, rule, atKey = false) => {
      const pos = atKey ? locator.keyAt(path) : locator.valueAt(path);
      return new ConfigError(file, pos.line, pos.col, detail, rule);
    },
    positionOf: (offset) => lines.linePos(offset),
    charAt: (path, index) => {
      const node: unknown = doc.getIn(path, true);
      if (!isScalar(node) || !node.range || typeof node.value !== 'string') return locator.valueAt(path);
      const quoted = node.type === 'QUOTE_DOUBLE' || node.type === 'QUOTE_SINGLE';
      if (!quoted && node.type !== 'PLAIN') return locator.valueAt(path);
      const start = node.range[0] + (quoted ? 1 : 0);
      const written = text.slice(start, start + node.value.length);
      if (written !== node.value || written.includes('\n') || index < 0 || index > written.length) return locator.valueAt(path);
      return lines.linePos(start + index);
    },
  });

  if (doc.errors.length > 0) {
    const errors = doc.errors.map((e) => {
      const pos = e.linePos?.[0] ?? lines.linePos(e.pos[0]);
      // The pretty message quotes the offending source lines after "at line N, column M:";
      // the position is already in front, so keep just the sentence.
      const sentence = (e.message.split('\n')[0] ?? '').replace(/ at line \d+, column \d+:?$/, '');
      return new ConfigError(file, pos.line, pos.col, `YAML syntax: ${sentence} [${e.code}]`, 'syntax');
    });
    return located(null, errors.sort(byPosition));
  }

  let value: unknown;
  try {
    value = doc.toJS();
  } catch (err) {
    // Only alias expansion can fail here ("billion laughs" guard); the parse itself succeeded.
    const detail = `YAML aliases cannot be expanded: ${err instanceof Error ? err.message : 'unknown reason'}`;
    return located(null, [new ConfigError(file, 1, 1, detail, 'syntax')]);
  }
  if (value === null || value === undefined) {
    const detail = `the ${kind} file is empty${opts.emptyHint === undefined ? '' : `; ${opts.emptyHint}`}`;
    return located(null, [new ConfigError(file, 1, 1, detail, 'required')]);
  }
  return located(value, []);
}

/** How YAML read a scalar that is not text, by its JSON type, for quoting advice. */
export const YAML_READS: Readonly<Record<string, string>> = { number: 'a number', boolean: 'a boolean', null: 'empty (null)' };

/**
 * Keys YAML did not read as text: `01:` becomes 1 and `true:` a boolean, and the conversion to
 * JSON then silently turns them into "1" and "true", losing the code as written. For files whose
 * keys are codes (site overlays, code tables).
 */
export function nonTextKeys(yaml: YamlFile): ConfigError[] {
  const errors: ConfigError[] = [];
  if (yaml.doc === null) return errors;
  const { text, file } = yaml;
  visit(yaml.doc, {
    Pair(_, pair) {
      if (!isPair(pair)) return;
      const key = pair.key;
      if (!isScalar(key) || typeof key.value === 'string' || !key.range) return;
      const written = text.slice(key.range[0], key.range[1]);
      const pos = yaml.positionOf(key.range[0]);
      const detail =
        written === ''
          ? 'a key is empty; write the code before the colon'
          : `key ${written} is read by YAML as ${YAML_READS[jsonKind(key.value)] ?? 'a non-text value'}, not as the code written; quote it: '${written}'`;
      errors.push(new ConfigError(file, pos.line, pos.col, detail, 'key-type'));
    },
  });
  return errors;
}

/** The JSON type of a parsed YAML value ("null" for nothing). */
export function jsonKind(value: unknown): string {
  if (value === null || value === undefined) return 'null';
  if (Array.isArray(value)) return 'array';
  return typeof value;
}
