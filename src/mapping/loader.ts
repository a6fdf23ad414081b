/**
 * Loads message mapping files (mappings/<set>/messages/*.yaml, plus common.yaml whose resources
 * every message gets) into the model. Every mistake an analyst can make is reported with
 * file:line:col and the rule broken, all at once, before anything runs.
 *
 * Each file is first validated against schemas/mapping.schema.json (messages/*.yaml against
 * #/definitions/messageFile, common.yaml against #/definitions/commonFile), the schema editors
 * use too, so what an editor accepts and what the engine loads cannot drift apart. What is left
 * here is what a schema cannot check: expressions parse, converters and functions exist, `use:`
 * names a template, resource names are unique, group members are segments or groups.
 */
import { readdirSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import type { ValidateFunction } from 'ajv';
import { byPosition, compileSchema, ConfigError, readYaml, schemaErrors, type SchemaWording, type YamlFile } from '../config/index.js';
import { ExpressionError, parseCondition, parseValue, namesUsed, type Expr } from './expression.js';
import type { GroupDef } from './structure.js';
import type { IdentityDef, MapEntry, MapNode, MessageMapping, RequestMode, ResourceDef, Rule } from './model.js';

const SEGMENT_ID = /^[A-Z][A-Z0-9]{2}$/;
const KNOWN_FUNCTIONS = ['present', 'empty', 'count', 'len', 'key', 'concat'];
const SCHEMA = 'mapping.schema.json';

export interface LoadContext {
  /** Converter names the engine knows, to catch typos at load. */
  readonly converters: ReadonlySet<string>;
}

// ---------------------------------------------------------------- file shapes (after the schema)

type RawRule = string | number | boolean | RawRule[] | RawRuleObject;
/** A rule mapping: $-keys, or FHIR element keys building an object. */
type RawRuleObject = { readonly [key: string]: unknown };
type RawMap = Readonly<Record<string, RawRule>>;

interface RawIdentity {
  readonly identifier?: string;
  readonly key?: string | string[];
  readonly request?: RequestMode;
}

/** A resource of a message file or common.yaml; a template is one without a name. */
interface RawResource {
  readonly name?: string;
  readonly type?: string;
  readonly use?: string;
  readonly from?: string;
  readonly forEach?: string;
  readonly when?: string;
  readonly identity?: RawIdentity;
  readonly map?: RawMap;
  readonly required?: string[];
  readonly resources?: RawResource[];
}

interface RawGroup {
  readonly start: string;
  readonly leading?: string[];
  readonly members?: string[];
}

interface RawMessageFile {
  readonly id: string;
  readonly description?: string;
  readonly messages: string[];
  readonly groups?: Readonly<Record<string, RawGroup>>;
  readonly ignore?: string[];
  readonly resources: RawResource[];
}

interface RawCommonFile {
  readonly description?: string;
  readonly resources: RawResource[];
  readonly templates?: Readonly<Record<string, RawResource>>;
}

const MESSAGE_WORDING: SchemaWording = { kind: 'message mapping', typeWords: 'values', names: 'key' };
const COMMON_WORDING: SchemaWording = { kind: 'common mapping', typeWords: 'values', names: 'key' };

let messageValidator: ValidateFunction<RawMessageFile> | null = null;
let commonValidator: ValidateFunction<RawCommonFile> | null = null;

// ---------------------------------------------------------------- compiling one file

class FileCompiler {
  readonly errors: ConfigError[] = [];

  constructor(
    private readonly yaml: YamlFile,
    private readonly ctx: LoadContext,
    private readonly templates: Readonly<Record<string, RawResource>> = {},
  ) {}

  error(path: readonly string[], detail: string, rule: string, key = false): void {
    this.errors.push(this.yaml.error(path, detail, rule, key));
  }

  private checkNames(e: Expr, path: readonly string[]): void {
    const used = namesUsed(e);
    for (const c of used.converters) {
      if (!this.ctx.converters.has(c)) this.error(path, `unknown converter "${c}"`, 'converter');
    }
    for (const f of used.functions) {
      if (!KNOWN_FUNCTIONS.includes(f)) this.error(path, `unknown function "${f}" (use ${KNOWN_FUNCTIONS.join(', ')})`, 'function');
    }
  }

  /** Parses an expression; a syntax error points at its column when the file spells it plainly. */
  private parse(src: string, path: readonly string[], parser: (src: string) => Expr): Expr | undefined {
    try {
      const e = parser(src);
      this.checkNames(e, path);
      return e;
    } catch (err) {
      if (!(err instanceof ExpressionError)) throw err;
      const pos = this.yaml.charAt(path, err.column - 1);
      this.errors.push(new ConfigError(this.yaml.file, pos.line, pos.col, err.message, 'expression'));
      return undefined;
    }
  }

  value(src: string, path: readonly string[]): Expr | undefined {
    return this.parse(src, path, parseValue);
  }

  condition(src: string, path: readonly string[]): Expr | undefined {
    return this.parse(src, path, parseCondition);
  }

  rule(src: RawRule, path: readonly string[]): Rule | undefined {
    if (typeof src === 'string') {
      const expr = this.value(src, path);
      return expr ? { kind: 'expr', expr, source: src } : undefined;
    }
    if (typeof src === 'number' || typeof src === 'boolean') return { kind: 'const', value: src };
    if (Array.isArray(src)) {
      const items = src.map((s, i) => this.rule(s, [...path, String(i)])).filter((r): r is Rule => r !== undefined);
      return { kind: 'list', items };
    }
    const obj = src;
    const keys = Object.keys(obj);
    const plain = keys.filter((k) => !k.startsWith('$'));
    if (plain.length === keys.length) return { kind: 'object', map: this.map(obj as RawMap, path) };
    const when = typeof obj['$when'] === 'string' ? this.condition(obj['$when'], [...path, '$when']) : undefined;
    const withWhen = <T extends object>(r: T): T => (when ? { ...r, when } : r);
    if ('$const' in obj) return withWhen({ kind: 'const' as const, value: obj['$const'] });
    if (typeof obj['$value'] === 'string') {
      const source = obj['$value'];
      const expr = this.value(source, [...path, '$value']);
      return expr ? withWhen({ kind: 'expr' as const, expr, source }) : undefined;
    }
    const many = '$refs' in obj;
    const ref = obj[many ? '$refs' : '$ref'];
    if (typeof ref === 'string') return withWhen({ kind: 'ref' as const, name: ref, many });
    if (Array.isArray(obj['$first'])) {
      const list = obj['$first'] as RawRule[];
      const rules = list.map((s, i) => this.rule(s, [...path, '$first', String(i)])).filter((r): r is Rule => r !== undefined);
      return withWhen({ kind: 'first' as const, rules });
    }
    const forEachSrc = obj['$forEach'];
    const built = obj['$build'] as RawMap | undefined;
    if (typeof forEachSrc === 'string' || built !== undefined || plain.length > 0) {
      const forEach = typeof forEachSrc === 'string' ? this.value(forEachSrc, [...path, '$forEach']) : undefined;
      const map =
        built !== undefined
          ? this.map(built, [...path, '$build'])
          : this.map(Object.fromEntries(plain.map((k) => [k, obj[k] as RawRule])), path);
      return withWhen({ kind: 'build' as const, ...(forEach ? { forEach } : {}), map });
    }
    this.error(path, '"$when" needs something to build: other keys, $value, $const, $ref or $first', 'rule');
    return undefined;
  }

  map(obj: RawMap, path: readonly string[]): MapNode {
    const out: MapEntry[] = [];
    for (const [key, v] of Object.entries(obj)) {
      // The schema admits only element paths here: letters, dots between levels, optional [x].
      const choice = key.endsWith('[x]');
      const parts = (choice ? key.slice(0, -3) : key).split('.');
      const rule = this.rule(v, [...path, key]);
      if (rule) out.push({ path: parts, choice, rule });
    }
    return out;
  }

  resource(src: RawResource, path: readonly string[], names: Set<string>): ResourceDef | undefined {
    let r = src;
    if (r.use !== undefined) {
      const t = this.templates[r.use];
      if (!t) {
        this.error([...path, 'use'], `no template "${r.use}" in common.yaml (templates: ${Object.keys(this.templates).join(', ') || 'none'})`, 'use');
        return undefined;
      }
      // The resource's own keys win; its map entries are added to (or replace) the template's.
      r = { ...t, ...r, map: { ...(t.map ?? {}), ...(r.map ?? {}) } };
    }
    const name = r.name ?? 'template';
    const type = r.type;
    if (type === undefined) {
      // Only a template without a type can leave a resource without one, and the schema makes
      // templates name their type; kept as a guard for callers that bypass the schema.
      this.error(path, 'type must be a FHIR resource type, e.g. Patient', 'type');
      return undefined;
    }
    if (r.name !== undefined) {
      if (names.has(name)) this.error([...path, 'name'], `resource name "${name}" is used twice in this mapping`, 'duplicate-name');
      else names.add(name);
    }
    const when = r.when !== undefined ? this.condition(r.when, [...path, 'when']) : undefined;
    const identity = this.identity(r.identity, [...path, 'identity']);
    const map = this.map(r.map ?? {}, [...path, 'map']);
    const children: ResourceDef[] = [];
    (r.resources ?? []).forEach((c, i) => {
      const d = this.resource(c, [...path, 'resources', String(i)], names);
      if (d) children.push(d);
    });
    return {
      required: r.required ?? [],
      name,
      type,
      ...(r.from !== undefined ? { from: r.from } : {}),
      ...(r.forEach !== undefined ? { forEach: r.forEach } : {}),
      ...(when ? { when } : {}),
      identity,
      map,
      children,
    };
  }

  identity(src: RawIdentity | undefined, path: readonly string[]): IdentityDef {
    if (src === undefined) return { request: 'put' };
    const identifier = src.identifier !== undefined ? this.value(src.identifier, [...path, 'identifier']) : undefined;
    let key: Expr[] | undefined;
    if (src.key !== undefined) {
      const list = Array.isArray(src.key) ? src.key : [src.key];
      const at = (i: number): string[] => (Array.isArray(src.key) ? [...path, 'key', String(i)] : [...path, 'key']);
      key = list.map((k, i) => this.value(k, at(i))).filter((e): e is Expr => e !== undefined);
    }
    const request = src.request ?? (identifier ? 'conditional' : 'put');
    return { ...(identifier ? { identifier } : {}), ...(key ? { key } : {}), request };
  }

  groups(src: Readonly<Record<string, RawGroup>> | undefined, path: readonly string[]): Map<string, GroupDef> {
    const out = new Map<string, GroupDef>();
    for (const [name, g] of Object.entries(src ?? {})) {
      const members = g.members ?? [];
      out.set(name, { name, start: g.start, leading: g.leading ?? [], members: members.includes(g.start) ? members : [g.start, ...members] });
    }
    for (const [name, g] of Object.entries(src ?? {})) {
      (g.members ?? []).forEach((m, i) => {
        if (!SEGMENT_ID.test(m) && !out.has(m)) {
          this.error([...path, name, 'members', String(i)], `"${m}" is neither a segment id nor a group of this mapping`, 'group');
        }
      });
    }
    return out;
  }
}

// ---------------------------------------------------------------- files

export interface CommonDefs {
  readonly resources: readonly ResourceDef[];
  /** Resource templates (as written) a message mapping can `use:`. */
  readonly templates: Readonly<Record<string, RawResource>>;
}

/** One message mapping file, or every problem in it. */
export function loadMessageMapping(file: string, common: CommonDefs, ctx: LoadContext): { mapping: MessageMapping | null; errors: ConfigError[] } {
  const yaml = readYaml(file, 'message mapping', { emptyHint: 'a message mapping needs id, messages and resources' });
  if (yaml.errors.length > 0) return { mapping: null, errors: [...yaml.errors] };
  messageValidator ??= compileSchema<RawMessageFile>(SCHEMA, 'messageFile');
  const invalid = schemaErrors(yaml, messageValidator, MESSAGE_WORDING);
  if (invalid.length > 0) return { mapping: null, errors: invalid };

  const raw = yaml.value as RawMessageFile;
  const c = new FileCompiler(yaml, ctx, common.templates);
  const groups = c.groups(raw.groups, ['groups']);
  const names = new Set<string>();
  const resources: ResourceDef[] = [];
  raw.resources.forEach((r, i) => {
    const d = c.resource(r, ['resources', String(i)], names);
    if (d) resources.push(d);
  });
  if (c.errors.length > 0) return { mapping: null, errors: c.errors.sort(byPosition) };
  // A message resource with the name of a common one replaces it.
  const commonFree = common.resources.filter((r) => !names.has(r.name));
  return {
    mapping: { id: raw.id, file, messages: raw.messages, groups, resources: [...resources, ...commonFree], ignore: raw.ignore ?? [] },
    errors: [],
  };
}

/**
 * common.yaml: `resources` every message gets (MessageHeader, Provenance), and `templates`
 * (a patient, an encounter…) that message mappings reuse with `use:`. A set without the file has
 * neither.
 */
export function loadCommon(file: string, ctx: LoadContext): CommonDefs & { errors: ConfigError[] } {
  if (!existsSync(file)) return { resources: [], templates: {}, errors: [] };
  const yaml = readYaml(file, 'common mapping', { emptyHint: 'common.yaml needs resources' });
  if (yaml.errors.length > 0) return { resources: [], templates: {}, errors: [...yaml.errors] };
  commonValidator ??= compileSchema<RawCommonFile>(SCHEMA, 'commonFile');
  const invalid = schemaErrors(yaml, commonValidator, COMMON_WORDING);
  if (invalid.length > 0) return { resources: [], templates: {}, errors: invalid };

  const raw = yaml.value as RawCommonFile;
  const c = new FileCompiler(yaml, ctx);
  const templates = raw.templates ?? {};
  // Compiled once here, so a mistake in a template is reported at its place in common.yaml.
  for (const [name, t] of Object.entries(templates)) c.resource(t, ['templates', name], new Set());
  const resources: ResourceDef[] = [];
  const names = new Set<string>();
  raw.resources.forEach((r, i) => {
    const d = c.resource(r, ['resources', String(i)], names);
    if (d) resources.push(d);
  });
  return { resources, templates, errors: c.errors.sort(byPosition) };
}

export function messageFiles(dir: string): string[] {
  const d = join(dir, 'messages');
  if (!existsSync(d)) return [];
  return readdirSync(d)
    .filter((f) => /\.ya?ml$/.test(f) && !f.startsWith('.'))
    .sort()
    .map((f) => join(d, f));
}
