/**
 * Site overlays (mappings/<set>/sites/<site>.yaml): what is local to one sending site. Problems
 * are reported the way every configuration file reports them (src/config):
 * "<file>:<line>:<col>: <what is wrong> (<rule>)".
 */
import { basename, extname } from 'node:path';
import type { ValidateFunction } from 'ajv';
import {
  byPosition,
  compileSchema,
  ConfigError,
  ConfigErrorList,
  nonTextKeys,
  readYaml,
  schemaErrors,
  type SchemaWording,
  type SourcePosition,
} from '../config/index.js';
import type { SiteConfig } from './types.js';

export const SITE_WORDING: SchemaWording = { kind: 'site', typeWords: 'values' };
export const TABLE_WORDING: SchemaWording = { kind: 'table', typeWords: 'values' };

/**
 * One file of codes (a site overlay or a code table), read and checked: syntax errors, keys YAML
 * did not read as text, and schema errors, each at its file:line:col. `value` is what the file
 * holds (null when it could not be parsed) even when invalid, so later checks can still report
 * their own problems in the same round; `valid` says whether it passed.
 */
export interface CodeFileRead {
  readonly value: unknown;
  readonly valid: boolean;
  readonly errors: ConfigError[];
  readonly at: (path: readonly string[]) => SourcePosition;
}

export function readCodeFile<T>(file: string, validate: ValidateFunction<T>, wording: SchemaWording): CodeFileRead {
  const yaml = readYaml(file, wording.kind);
  const at = (path: readonly string[]): SourcePosition => yaml.at(path);
  if (yaml.errors.length > 0) return { value: null, valid: false, errors: [...yaml.errors], at };
  const errors = [...yaml.errors, ...nonTextKeys(yaml), ...schemaErrors(yaml, validate, wording)];
  return { value: yaml.value, valid: errors.length === 0, errors: errors.sort(byPosition), at };
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
  const read = readCodeFile(file, siteValidator, SITE_WORDING);
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
