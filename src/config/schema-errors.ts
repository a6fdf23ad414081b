/**
 * Turns JSON Schema errors into sentences an integration analyst can act on, naming the setting
 * the way it is written in the file (listener.port, accept.messageTypes[2], map["X.400"]), at the
 * place it is written.
 */
import type { ValidateFunction } from 'ajv';
import { isScalar } from 'yaml';
import type { ConfigError } from './config-error.js';
import { jsonKind, YAML_READS, type YamlFile } from './read-yaml.js';
import { PATTERN_MESSAGE, type SchemaError } from './schema.js';

/** How one kind of file is spoken of in messages. */
export interface SchemaWording {
  /**
   * Names the file: "channel" gives "the channel file". The plain-language explanation of each
   * pattern is in the schema itself, beside the pattern (see PATTERN_MESSAGE).
   */
  readonly kind: string;
  /**
   * How types are named. 'settings' (channel files): "a mapping of settings", "a string".
   * 'values' (files of codes and expressions): "a mapping", "text", plus the quoting fix when
   * YAML read a scalar as a number, boolean or null where text belongs.
   */
  readonly typeWords: 'settings' | 'values';
  /**
   * How a setting is named. 'path' (default): the whole way to it, listener.tls.key. 'key': its
   * own key with any list positions, messages[0]; for deeply nested files (mappings), where the
   * line and column already say where it sits and a full path would be noise.
   */
  readonly names?: 'path' | 'key';
}

/** Instance path segments from a JSON Pointer ("/listener/port" → ["listener", "port"]). */
export function pointerSegments(pointer: string): string[] {
  if (pointer === '') return [];
  return pointer
    .slice(1)
    .split('/')
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
}

/**
 * "listener.port", "accept.messageTypes[0]", "map.02.code", "map[\"X.400\"]": list positions in
 * brackets, keys after dots, keys that would read wrongly after a dot quoted. The empty path is
 * the whole file. `root` is the file's value, to tell a list position from a key that is digits.
 */
export function settingName(segments: readonly string[], root: unknown): string {
  let out = '';
  let node: unknown = root;
  for (const s of segments) {
    if (Array.isArray(node)) {
      out += `[${s}]`;
      node = node[Number(s)];
      continue;
    }
    if (/^[^.\s[\]"]+$/.test(s)) out += out === '' ? s : `.${s}`;
    else out += `[${JSON.stringify(s)}]`;
    node = node !== null && typeof node === 'object' ? (node as Record<string, unknown>)[s] : undefined;
  }
  return out;
}

/** The last key of `segments` with the list positions after it, as settingName writes them. */
function ownName(segments: readonly string[], root: unknown): string {
  let node: unknown = root;
  const arrays = segments.map((s) => {
    const isIndex = Array.isArray(node);
    node = node !== null && typeof node === 'object' ? (node as Record<string, unknown>)[s] : undefined;
    return isIndex;
  });
  let from = segments.length - 1;
  while (from > 0 && arrays[from]) from--;
  const full = settingName(segments, root);
  const head = settingName(segments.slice(0, from), root);
  return from === 0 ? full : full.slice(head.length).replace(/^\./, '');
}

/** Edit distance counting a swap of neighbours as one edit, the commonest typo ("prot"). */
function editDistance(a: string, b: string): number {
  const x = a.toLowerCase();
  const y = b.toLowerCase();
  const d: number[][] = Array.from({ length: x.length + 1 }, (_, i) =>
    Array.from({ length: y.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)),
  );
  const at = (i: number, j: number): number => d[i]?.[j] ?? 0;
  for (let i = 1; i <= x.length; i++) {
    const row = d[i];
    if (row === undefined) continue;
    for (let j = 1; j <= y.length; j++) {
      const cost = x[i - 1] === y[j - 1] ? 0 : 1;
      let best = Math.min(at(i - 1, j) + 1, at(i, j - 1) + 1, at(i - 1, j - 1) + cost);
      if (i > 1 && j > 1 && x[i - 1] === y[j - 2] && x[i - 2] === y[j - 1]) {
        best = Math.min(best, at(i - 2, j - 2) + 1);
      }
      row[j] = best;
    }
  }
  return at(x.length, y.length);
}

function knownKeys(error: SchemaError): string[] {
  const parent: unknown = error.parentSchema;
  if (parent === null || typeof parent !== 'object' || !('properties' in parent)) return [];
  const props: unknown = parent.properties;
  return props !== null && typeof props === 'object' ? Object.keys(props) : [];
}

function unknownKeyHint(key: string, known: readonly string[]): string {
  // A shortened key ("idleTimeout" for "idleTimeoutSeconds") is as common as a misspelt one.
  const lower = key.toLowerCase();
  const extended = known.find((k) => lower.length >= 3 && k.toLowerCase().startsWith(lower));
  if (extended !== undefined) return `; did you mean '${extended}'?`;
  let best: string | null = null;
  let bestDistance = Infinity;
  for (const k of known) {
    const d = editDistance(key, k);
    if (d < bestDistance) {
      best = k;
      bestDistance = d;
    }
  }
  if (best !== null && bestDistance <= Math.max(1, Math.floor(best.length / 3))) {
    return `; did you mean '${best}'?`;
  }
  return known.length > 0 ? `; known keys here: ${known.join(', ')}` : '';
}

// ---------------------------------------------------------------- type wording

/** 'settings' wording: integers and numbers apart, nothing at all is "empty". */
function settingsType(value: unknown): string {
  if (value === null || value === undefined) return 'empty';
  if (Array.isArray(value)) return 'array';
  if (typeof value === 'number') return Number.isInteger(value) ? 'integer' : 'number';
  return typeof value;
}

function settingsTypeWords(type: string): string {
  switch (type) {
    case 'object':
      return 'a mapping of settings';
    case 'array':
      return 'a list';
    case 'integer':
      return 'a whole number';
    case 'empty':
      return 'empty';
    default:
      return `a ${type}`;
  }
}

const VALUE_TYPE_WORDS: Readonly<Record<string, string>> = {
  object: 'a mapping',
  array: 'a list',
  string: 'text',
  integer: 'a whole number',
  number: 'a number',
  boolean: 'true or false',
  null: 'null',
};

/** "text or a mapping"; "text, a number, true or false, a list or a mapping". */
function valueTypeList(expected: string): string {
  const words = expected.split(',').map((t) => VALUE_TYPE_WORDS[t] ?? t);
  const last = words.pop() ?? '';
  return words.length === 0 ? last : `${words.join(', ')} or ${last}`;
}

/** The scalar at `path` as written in the file, for the quoting advice. */
function sourceText(yaml: YamlFile, path: readonly string[]): string | null {
  const node: unknown = yaml.doc?.getIn(path, true);
  if (!isScalar(node) || !node.range) return null;
  return yaml.text.slice(node.range[0], node.range[1]);
}

/** The text a scalar reads as once quoted, and whether the schema's pattern would then accept it. */
function quotingFixes(error: SchemaError, written: string | null): boolean {
  const parent: unknown = error.parentSchema;
  const pattern = parent !== null && typeof parent === 'object' ? (parent as Record<string, unknown>)['pattern'] : undefined;
  if (typeof pattern !== 'string' || written === null) return true;
  return new RegExp(pattern, 'u').test(written);
}

function typeDetail(error: SchemaError, subject: string, yaml: YamlFile, path: readonly string[], wording: SchemaWording): string {
  const expected = String(error.params['type']);
  // A number where a resource type belongs is not fixed by quoting it: say what the value must
  // look like, when the schema says, rather than which type it has.
  const shape = patternMessage(error.parentSchema);
  if (shape !== undefined && expected === 'string' && !quotingFixes(error, sourceText(yaml, path))) return `${subject} ${shape}`;
  if (wording.typeWords === 'settings') {
    return `${subject} must be ${settingsTypeWords(expected)}, not ${settingsTypeWords(settingsType(error.data))}`;
  }
  const actual = jsonKind(error.data);
  let detail = `${subject} must be ${valueTypeList(expected)}, not ${VALUE_TYPE_WORDS[actual] ?? actual}`;
  const written = sourceText(yaml, path);
  if (expected.includes('string') && actual !== 'object' && actual !== 'array' && written !== null && written !== '') {
    // YAML turns 01, true, no and ~ into numbers, booleans and null; codes are text.
    detail += `; YAML reads ${written} as ${YAML_READS[actual] ?? actual}, so quote it: '${written}'`;
  }
  return detail;
}

// ---------------------------------------------------------------- describing

/** One schema error as a sentence, and where in the file it belongs. */
export interface LocatedMessage {
  /** Path to the node the message should point at. */
  readonly at: readonly string[];
  /** Point at the key itself rather than its value. */
  readonly atKey: boolean;
  readonly detail: string;
}

/** The schema's own explanation of a pattern: on the schema holding it, or on its propertyNames. */
function patternMessage(schema: unknown): string | undefined {
  if (schema === null || typeof schema !== 'object') return undefined;
  const message: unknown = (schema as Record<string, unknown>)[PATTERN_MESSAGE];
  return typeof message === 'string' ? message : undefined;
}

/** The sentence for one schema error about a file of `wording.kind`, and where it belongs. */
export function describeSchemaError(error: SchemaError, yaml: YamlFile, wording: SchemaWording): LocatedMessage {
  const root = yaml.value;
  const path = pointerSegments(error.instancePath);
  const nameOf = (segments: readonly string[]): string => (wording.names === 'key' ? ownName(segments, root) : settingName(segments, root));
  const name = nameOf(path);
  const subject = name === '' ? `the ${wording.kind} file` : name;
  const params: Record<string, unknown> = error.params;
  switch (error.keyword) {
    case 'required': {
      const missing = String(params['missingProperty']);
      return { at: path, atKey: false, detail: `${nameOf([...path, missing])} is required but missing from ${subject}` };
    }
    case 'additionalProperties': {
      const extra = String(params['additionalProperty']);
      return {
        at: [...path, extra],
        atKey: true,
        detail: `${nameOf([...path, extra])} is not a known setting${unknownKeyHint(extra, knownKeys(error))}`,
      };
    }
    case 'enum': {
      const allowed = Array.isArray(params['allowedValues']) ? params['allowedValues'] : [];
      return { at: path, atKey: false, detail: `${subject} must be one of: ${allowed.join(', ')}` };
    }
    case 'type':
      return { at: path, atKey: false, detail: typeDetail(error, subject, yaml, path, wording) };
    case 'pattern':
      return { at: path, atKey: false, detail: `${subject} ${patternMessage(error.parentSchema) ?? error.message ?? 'has the wrong form'}` };
    case 'propertyNames': {
      const key = String(params['propertyName']);
      const names: unknown = (error.parentSchema as Record<string, unknown> | undefined)?.['propertyNames'];
      return { at: [...path, key], atKey: true, detail: `key '${key}' in ${subject} ${patternMessage(names) ?? 'must not be empty'}` };
    }
    default:
      return { at: path, atKey: false, detail: `${subject} ${error.message ?? 'is invalid'}` };
  }
}

/**
 * Validates what `yaml` holds and returns every schema error as a ConfigError at its place, the
 * rule being the schema keyword that failed. Nothing when the file could not be parsed.
 */
export function schemaErrors<T>(yaml: YamlFile, validate: ValidateFunction<T>, wording: SchemaWording): ConfigError[] {
  if (yaml.value === null || validate(yaml.value)) return [];
  const errors: ConfigError[] = [];
  for (const error of validate.errors ?? []) {
    // A propertyNames failure is reported twice by Ajv (the inner keyword and the wrapper), and a
    // failed if/then once more as "must match then schema" beside the failure itself.
    if (error.propertyName !== undefined || error.keyword === 'if') continue;
    const message = describeSchemaError(error, yaml, wording);
    errors.push(yaml.error(message.at, message.detail, error.keyword, message.atKey));
  }
  return errors;
}
