/**
 * Site overlays (mappings/<set>/sites/<site>.yaml): what is local to one sending site. Also the
 * YAML-reading helper the code tables share, so both kinds of file report problems the same way
 * channel files do: "<file>:<line>:<col>: <what is wrong> (<rule>)".
 */
import { readFileSync } from 'node:fs';
import { basename, extname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import { isPair, isScalar, LineCounter, parseDocument, visit, type Document } from 'yaml';
import { ConfigError } from '../channel/config-error.js';
import { describeSchemaError, pointerSegments } from '../channel/schema-messages.js';
import { YamlLocator, type SourcePosition } from '../channel/yaml-locator.js';
import type { SiteConfig } from './types.js';

/**
 * Several problems found in one load, thrown as one error. It is the first problem (same file,
 * line and column, so `instanceof ConfigError` callers keep working) and carries all of them, so
 * an analyst fixes every file in one round instead of one error per restart.
 */
export class ConfigErrorList extends ConfigError {
  readonly errors: readonly ConfigError[];

  constructor(errors: readonly ConfigError[]) {
    const first = errors[0];
    if (first === undefined) throw new RangeError('ConfigErrorList needs at least one error');
    super(first.file, first.line, first.col, first.detail, first.rule);
    this.errors = errors;
    if (errors.length > 1) {
      this.message = `${errors.length} configuration problems:\n${errors.map((e) => `  ${e.message}`).join('\n')}`;
    }
  }
}

// ---------------------------------------------------------------- shared YAML reading

/** dist/src/mapping/ → repository root; schemas ship beside mappings/, not inside dist/. */
export function schemaPath(name: string): string {
  return fileURLToPath(new URL(`../../../schemas/${name}`, import.meta.url));
}

/** Ajv for the mapping schemas: every error at once; union types ("a code or { code, display }"). */
export function compileSchema<T>(name: string): ValidateFunction<T> {
  const path = schemaPath(name);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'unknown error';
    throw new Error(`schema not readable at ${path} (${code}); it ships in schemas/`);
  }
  const ajv = new Ajv({ allErrors: true, strict: true, allowUnionTypes: true, verbose: true });
  return ajv.compile<T>(JSON.parse(text) as object);
}

/**
 * One YAML file, parsed and checked against its schema. `value` is what the file holds (null when
 * it could not be parsed), even when invalid, so later checks can still report their own problems
 * in the same round; `valid` says whether it passed the schema and key checks.
 */
export interface YamlRead {
  readonly value: unknown;
  readonly valid: boolean;
  readonly errors: ConfigError[];
  readonly at: (path: readonly string[]) => SourcePosition;
}

const TYPE_WORDS: Readonly<Record<string, string>> = {
  object: 'a mapping',
  array: 'a list',
  string: 'text',
  integer: 'a whole number',
  number: 'a number',
  boolean: 'true or false',
  null: 'null',
};

/** Plain-language pattern explanations, keyed by the end of the schema path. */
const PATTERN_HINTS: ReadonlyArray<readonly [string, string]> = [
  ['/definitions/uri/pattern', 'must be an absolute URI such as http://example.org/fhir/sid/mrn or urn:oid:1.2.3'],
  ['/definitions/code/pattern', 'must be a FHIR code: no leading, trailing or double spaces'],
  ['/definitions/mapEntry/pattern', 'must be a FHIR code: no leading, trailing or double spaces'],
  ['/properties/use/pattern', 'must be a FHIR code (or passthrough / none): no leading, trailing or double spaces'],
  ['/properties/id/pattern', "must use only lower-case letters, digits and '-' (e.g. hl7-0001)"],
  ['/properties/name/pattern', "must use only lower-case letters, digits, '_' and '-' (it becomes part of identifier systems and ids)"],
  ['/properties/unknownAuthoritySystem/pattern', "must be a URI template containing {name}, e.g. urn:x-v2-aa:{site}:{name}, or null"],
  ['/additionalProperties/additionalProperties/pattern', 'must be a FHIR code: no leading, trailing or double spaces'],
  ['/properties/type/pattern', 'must be an identifier type code from HL7 table 0203, e.g. MR'],
];

/** "map.F.code", "map[\"X.400\"]": these files hold no lists, so digits are codes, not indexes. */
function settingName(segments: readonly string[]): string {
  let out = '';
  for (const s of segments) {
    if (/^[^.\s[\]"]+$/.test(s)) out += out === '' ? s : `.${s}`;
    else out += `[${JSON.stringify(s)}]`;
  }
  return out;
}

const YAML_READS: Readonly<Record<string, string>> = { number: 'a number', boolean: 'a boolean', null: 'empty (null)' };

function typeList(expected: string): string {
  return expected
    .split(',')
    .map((t) => TYPE_WORDS[t] ?? t)
    .join(' or ');
}

function jsonType(value: unknown): string {
  if (value === null || value === undefined) return 'null';
  if (Array.isArray(value)) return 'array';
  return typeof value;
}

function sourceText(doc: Document, text: string, path: readonly string[]): string | null {
  const node: unknown = doc.getIn(path, true);
  if (!isScalar(node) || !node.range) return null;
  return text.slice(node.range[0], node.range[1]);
}

/** A schema error as a sentence about `kind` files (the channel wording says "channel file"). */
function describe(error: ErrorObject, kind: string, doc: Document, text: string): { at: string[]; atKey: boolean; detail: string } {
  const path = pointerSegments(error.instancePath);
  const name = settingName(path) || `the ${kind} file`;
  const params: Record<string, unknown> = error.params;
  if (error.keyword === 'type') {
    const expected = String(params['type']);
    const actual = jsonType(error.data);
    let detail = `${name} must be ${typeList(expected)}, not ${TYPE_WORDS[actual] ?? actual}`;
    const written = sourceText(doc, text, path);
    if (expected.includes('string') && actual !== 'object' && actual !== 'array' && written !== null) {
      // YAML turns 01, true, no and ~ into numbers, booleans and null; codes are text.
      detail += `; YAML reads ${written} as ${YAML_READS[actual] ?? actual}, so quote it: '${written}'`;
    }
    return { at: path, atKey: false, detail };
  }
  if (error.keyword === 'pattern') {
    const hint = PATTERN_HINTS.find(([suffix]) => error.schemaPath.endsWith(suffix))?.[1];
    return { at: path, atKey: false, detail: `${name} ${hint ?? error.message ?? 'has the wrong form'}` };
  }
  if (error.keyword === 'propertyNames') {
    const key = String(params['propertyName']);
    const hint = error.schemaPath.startsWith('#/properties/tableAdditions')
      ? "must be a table id: lower-case letters, digits and '-' (e.g. hl7-0004-class)"
      : 'must not be empty';
    return { at: [...path, key], atKey: true, detail: `key '${key}' in ${name} ${hint}` };
  }
  if (error.keyword === 'required') {
    const missing = String(params['missingProperty']);
    return { at: path, atKey: false, detail: `${settingName([...path, missing])} is required but missing from ${name}` };
  }
  if (error.keyword === 'enum') {
    const allowed = Array.isArray(params['allowedValues']) ? params['allowedValues'] : [];
    return { at: path, atKey: false, detail: `${name} must be one of: ${allowed.join(', ')}` };
  }
  // additionalProperties and the rest: the channel wording, with its "did you mean" hints.
  const message = describeSchemaError(error);
  return { at: [...message.at], atKey: message.atKey, detail: message.detail.replace('the channel file', `the ${kind} file`) };
}

/**
 * Mapping keys YAML did not read as text: `01:` becomes 1 and `true:` a boolean, and the
 * conversion to JSON then silently turns them into "1" and "true", losing the code as written.
 */
function keyTypeErrors(doc: Document, text: string, file: string, lines: LineCounter): ConfigError[] {
  const errors: ConfigError[] = [];
  visit(doc, {
    Pair(_, pair) {
      if (!isPair(pair)) return;
      const key = pair.key;
      if (!isScalar(key) || typeof key.value === 'string' || !key.range) return;
      const written = text.slice(key.range[0], key.range[1]);
      const pos = lines.linePos(key.range[0]);
      const detail =
        written === ''
          ? 'a key is empty; write the code before the colon'
          : `key ${written} is read by YAML as ${YAML_READS[jsonType(key.value)] ?? 'a non-text value'}, not as the code written; quote it: '${written}'`;
      errors.push(new ConfigError(file, pos.line, pos.col, detail, 'key-type'));
    },
  });
  return errors;
}

export function byPosition(a: ConfigError, b: ConfigError): number {
  return a.line - b.line || a.col - b.col;
}

/**
 * Reads one YAML file and validates it: syntax errors, non-text keys and schema errors, each at
 * its file:line:col. `kind` names the file in messages ("table", "site").
 */
export function readYamlFile<T>(file: string, validate: ValidateFunction<T>, kind: string): YamlRead {
  const nowhere = (): SourcePosition => ({ line: 1, col: 1 });
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'unknown error';
    return { value: null, valid: false, errors: [new ConfigError(file, 1, 1, `cannot read the ${kind} file (${code})`, 'read')], at: nowhere };
  }
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: true, uniqueKeys: true });
  const locator = new YamlLocator(doc, lines);
  const at = (path: readonly string[]): SourcePosition => locator.valueAt(path);
  if (doc.errors.length > 0) {
    const errors = doc.errors.map((e) => {
      const pos = e.linePos?.[0] ?? lines.linePos(e.pos[0]);
      const sentence = (e.message.split('\n')[0] ?? '').replace(/ at line \d+, column \d+:?$/, '');
      return new ConfigError(file, pos.line, pos.col, `YAML syntax: ${sentence} [${e.code}]`, 'syntax');
    });
    return { value: null, valid: false, errors: errors.sort(byPosition), at };
  }
  let value: unknown;
  try {
    value = doc.toJS();
  } catch (err) {
    const detail = `YAML aliases cannot be expanded: ${err instanceof Error ? err.message : 'unknown reason'}`;
    return { value: null, valid: false, errors: [new ConfigError(file, 1, 1, detail, 'syntax')], at };
  }
  if (value === null || value === undefined) {
    return { value: null, valid: false, errors: [new ConfigError(file, 1, 1, `the ${kind} file is empty`, 'required')], at };
  }
  const errors = keyTypeErrors(doc, text, file, lines);
  if (!validate(value)) {
    for (const error of validate.errors ?? []) {
      // A propertyNames failure is reported twice by Ajv (the inner keyword and the wrapper).
      if (error.propertyName !== undefined) continue;
      const message = describe(error, kind, doc, text);
      const pos = message.atKey ? locator.keyAt(message.at) : locator.valueAt(message.at);
      errors.push(new ConfigError(file, pos.line, pos.col, message.detail, error.keyword));
    }
  }
  return { value, valid: errors.length === 0, errors: errors.sort(byPosition), at };
}

// ---------------------------------------------------------------- sites

/** A site file's content once it passed the schema. */
interface RawSite {
  name?: string;
  timezone?: string;
  assigningAuthorities?: Record<string, { system: string; type?: string }>;
  unknownAuthoritySystem?: string | null;
  codeSystems?: Record<string, string>;
  tableAdditions?: Record<string, Record<string, string>>;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

const NAME_PATTERN = /^[a-z0-9][a-z0-9_-]*$/;
/** IANA names only: a fixed offset (+05:00) ignores daylight saving, which sites rarely mean. */
const ZONE_PATTERN = /^[A-Za-z][A-Za-z0-9_+-]*(\/[A-Za-z0-9_+-]+)*$/;
const DEFAULT_AUTHORITY_TEMPLATE = 'urn:x-v2-aa:{site}:{name}';

function freezeDeep<T>(value: T): T {
  if (value !== null && typeof value === 'object') {
    for (const v of Object.values(value)) freezeDeep(v);
    Object.freeze(value);
  }
  return value;
}

/**
 * The site used when a channel names none. UTC because there is no right answer for an unknown
 * site: every real site must set its own zone, or times sent without an offset are read as UTC.
 * Unknown assigning authorities get a per-authority URN so their identifiers stay apart.
 */
export const DEFAULT_SITE: SiteConfig = freezeDeep({
  name: 'default',
  timezone: 'UTC',
  assigningAuthorities: {},
  unknownAuthoritySystem: DEFAULT_AUTHORITY_TEMPLATE.replace('{site}', 'default'),
  codeSystems: {},
  tableAdditions: {},
});

/** Why `zone` cannot be used, or null when Intl knows it. */
export function timezoneProblem(zone: string): string | null {
  if (!ZONE_PATTERN.test(zone)) {
    return 'must be an IANA time zone name such as America/Chicago or UTC; fixed offsets like +05:00 ignore daylight saving';
  }
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: zone });
  } catch {
    return 'is not a time zone this Node.js knows; use an IANA name such as America/Chicago, Europe/Berlin or UTC';
  }
  return null;
}

/** Where a loaded site's settings were written, so later checks (tables) can point at them. */
const SOURCES = new WeakMap<SiteConfig, { file: string; at: (path: readonly string[]) => SourcePosition }>();

/**
 * A ConfigError about a setting of `site`, located in its file when the site was loaded from one
 * (otherwise named after the site, line 1).
 */
export function siteError(site: SiteConfig, path: readonly string[], detail: string, rule: string): ConfigError {
  const source = SOURCES.get(site);
  if (source === undefined) return new ConfigError(`site '${site.name}'`, 1, 1, detail, rule);
  const pos = source.at(path);
  return new ConfigError(source.file, pos.line, pos.col, detail, rule);
}

let siteValidator: ValidateFunction<RawSite> | null = null;

/** Every problem in one site file, in file order, and the site when there are none. */
export function checkSite(file: string): { site: SiteConfig | null; errors: ConfigError[] } {
  siteValidator ??= compileSchema<RawSite>('site.schema.json');
  const read = readYamlFile(file, siteValidator, 'site');
  const stem = basename(file, extname(file));
  const errors = [...read.errors];
  const report = (path: readonly string[], detail: string, rule: string): void => {
    const pos = read.at(path);
    errors.push(new ConfigError(file, pos.line, pos.col, detail, rule));
  };
  // These run even when the schema failed, so one round reports everything; each looks only at
  // values of the right type and leaves wrong types to the schema errors.
  const value = read.value;
  if (isRecord(value)) {
    if (value['name'] === undefined && !NAME_PATTERN.test(stem)) {
      report([], `no 'name' is set and the file name '${stem}' is not a valid site name (lower-case letters, digits, '_' and '-'); set name or rename the file`, 'name');
    }
    const zone = value['timezone'];
    if (typeof zone === 'string') {
      const problem = timezoneProblem(zone);
      if (problem !== null) report(['timezone'], `timezone '${zone}' ${problem}`, 'timezone');
    }
  }
  if (!read.valid || errors.length > 0) return { site: null, errors: errors.sort(byPosition) };
  const raw = value as RawSite;

  const name = raw.name ?? stem;
  const template = raw.unknownAuthoritySystem === undefined ? DEFAULT_AUTHORITY_TEMPLATE : raw.unknownAuthoritySystem;
  const site: SiteConfig = freezeDeep({
    name,
    timezone: raw.timezone ?? DEFAULT_SITE.timezone,
    assigningAuthorities: raw.assigningAuthorities ?? {},
    unknownAuthoritySystem: template === null ? null : template.replaceAll('{site}', name),
    codeSystems: raw.codeSystems ?? {},
    tableAdditions: raw.tableAdditions ?? {},
  });
  SOURCES.set(site, { file, at: read.at });
  return { site, errors: [] };
}

/**
 * Loads one site file with every default filled in. Throws a ConfigErrorList (a ConfigError for
 * the first problem, carrying all of them) when the file has problems.
 */
export function loadSite(file: string): SiteConfig {
  const { site, errors } = checkSite(file);
  if (errors.length > 0) throw new ConfigErrorList(errors);
  if (site === null) throw new ConfigError(file, 1, 1, 'site could not be loaded', 'read');
  return site;
}
