/**
 * Loads an outbound mapping set (mappings/outbound/messages/*.yaml) the way inbound mappings load:
 * the JSON Schema first (schemas/outbound-mapping.schema.json, also what editors check against),
 * then what a schema cannot see (expressions parse, converters and code tables exist, field keys
 * name the segment they sit in), every problem at once with file:line:col.
 */
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { ValidateFunction } from 'ajv';
import { byPosition, compileSchema, ConfigError, readYaml, schemaErrors, type SchemaWording, type YamlFile } from '../config/index.js';
import { convertersUsed, OutExpressionError, parseOutCondition, parseOutValue } from './expression.js';
import { OUT_CONVERTERS, TABLE_CONVERTERS } from './converters.js';
import type { FieldRule, FieldTarget, OutboundMapping, OutCondition, OutExpr, SegmentRule } from './model.js';

const SCHEMA = 'outbound-mapping.schema.json';
const WORDING: SchemaWording = { kind: 'outbound mapping', typeWords: 'values', names: 'key' };

interface RawSegment {
  readonly segment: string;
  readonly forEach?: string;
  readonly when?: string;
  readonly fields?: Readonly<Record<string, string | string[]>>;
  readonly segments?: RawSegment[];
}

interface RawFile {
  readonly id: string;
  readonly description?: string;
  readonly focus: string;
  readonly when?: string;
  readonly message: string;
  readonly version?: string;
  readonly segments: RawSegment[];
}

let validator: ValidateFunction<RawFile> | null = null;

class Compiler {
  readonly errors: ConfigError[] = [];
  constructor(
    private readonly yaml: YamlFile,
    private readonly tableIds: ReadonlySet<string>,
  ) {}

  private parse<T extends OutExpr | OutCondition>(src: string, path: readonly string[], parser: (s: string) => T): T | undefined {
    try {
      const e = parser(src);
      this.check(e, path);
      return e;
    } catch (err) {
      if (!(err instanceof OutExpressionError)) throw err;
      const pos = this.yaml.charAt(path, err.column - 1);
      this.errors.push(new ConfigError(this.yaml.file, pos.line, pos.col, err.message, 'expression'));
      return undefined;
    }
  }

  private check(e: OutExpr | OutCondition, path: readonly string[]): void {
    for (const name of convertersUsed(e)) {
      if (!(name in OUT_CONVERTERS)) {
        this.errors.push(this.yaml.error(path, `unknown converter "${name}" (outbound converters: ${Object.keys(OUT_CONVERTERS).join(', ')})`, 'converter'));
      }
    }
    this.checkTables(e, path);
  }

  private checkTables(e: OutExpr | OutCondition, path: readonly string[]): void {
    if (e.kind === 'convert') {
      if (TABLE_CONVERTERS.has(e.converter)) {
        const table = e.args[0];
        if (table === undefined) this.errors.push(this.yaml.error(path, `${e.converter} needs a code table, e.g. ${e.converter}(hl7-0001)`, 'table'));
        else if (!this.tableIds.has(table)) this.errors.push(this.yaml.error(path, `no code table "${table}" in the tables folder`, 'table'));
      }
      this.checkTables(e.input, path);
    }
  }

  value(src: string, path: readonly string[]): OutExpr | undefined {
    return this.parse(src, path, parseOutValue);
  }
  condition(src: string, path: readonly string[]): OutCondition | undefined {
    return this.parse(src, path, parseOutCondition);
  }

  segment(raw: RawSegment, path: readonly string[]): SegmentRule {
    const fields: FieldRule[] = [];
    for (const [key, v] of Object.entries(raw.fields ?? {})) {
      const target = parseTarget(key);
      const fieldPath = [...path, 'fields', key];
      if (!key.startsWith(`${raw.segment}-`)) {
        this.errors.push(this.yaml.error(fieldPath, `field ${key} is not in segment ${raw.segment}; write ${raw.segment}-n`, 'field', true));
        continue;
      }
      const sources = Array.isArray(v) ? v : [v];
      const exprs = sources
        .map((s, i) => this.value(s, Array.isArray(v) ? [...fieldPath, String(i)] : fieldPath))
        .filter((e): e is OutExpr => e !== undefined);
      const p = this.yaml.keyAt(fieldPath);
      fields.push({ target, exprs, key, source: { file: this.yaml.file, line: p.line, col: p.col } });
    }
    const forEach = raw.forEach === undefined ? undefined : this.value(raw.forEach, [...path, 'forEach']);
    const when = raw.when === undefined ? undefined : this.condition(raw.when, [...path, 'when']);
    const children = (raw.segments ?? []).map((s, i) => this.segment(s, [...path, 'segments', String(i)]));
    const p = this.yaml.at(path);
    return {
      segment: raw.segment,
      ...(forEach ? { forEach } : {}),
      ...(when ? { when } : {}),
      fields,
      children,
      source: { file: this.yaml.file, line: p.line, col: p.col },
    };
  }
}

function parseTarget(key: string): FieldTarget {
  const [, rest = ''] = key.split('-');
  const [f, c, s] = rest.split('.').map(Number);
  return { field: f ?? 0, ...(c === undefined ? {} : { component: c }), ...(s === undefined ? {} : { subcomponent: s }) };
}

export function loadOutboundFile(file: string, tableIds: ReadonlySet<string>): { mapping: OutboundMapping | null; errors: ConfigError[] } {
  const yaml = readYaml(file, 'outbound mapping', { emptyHint: 'an outbound mapping needs id, focus, message and segments' });
  if (yaml.errors.length > 0) return { mapping: null, errors: [...yaml.errors] };
  validator ??= compileSchema<RawFile>(SCHEMA);
  const invalid = schemaErrors(yaml, validator, WORDING);
  if (invalid.length > 0) return { mapping: null, errors: invalid };
  const raw = yaml.value as RawFile;
  const c = new Compiler(yaml, tableIds);
  const when = raw.when === undefined ? undefined : c.condition(raw.when, ['when']);
  const segments = raw.segments.map((s, i) => c.segment(s, ['segments', String(i)]));
  if (c.errors.length > 0) return { mapping: null, errors: c.errors.sort(byPosition) };
  return {
    mapping: {
      id: raw.id,
      file,
      ...(raw.description !== undefined ? { description: raw.description } : {}),
      focus: raw.focus,
      ...(when ? { when } : {}),
      messageType: raw.message,
      version: raw.version ?? '2.5.1',
      segments,
    },
    errors: [],
  };
}

/** messages/*.yaml of an outbound set, in name order (which is also the order mappings are tried in). */
export function outboundFiles(dir: string): string[] {
  const d = join(dir, 'messages');
  if (!existsSync(d)) return [];
  return readdirSync(d)
    .filter((f) => /\.ya?ml$/.test(f) && !f.startsWith('.'))
    .sort()
    .map((f) => join(d, f));
}
