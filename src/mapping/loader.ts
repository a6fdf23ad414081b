/**
 * Loads message mapping files (mappings/<set>/messages/*.yaml, plus common.yaml whose resources
 * every message gets) into the model. Every mistake an analyst can make is reported with
 * file:line:col and the rule broken, all at once, before anything runs.
 */
import { readFileSync, readdirSync, existsSync } from 'node:fs';
import { join, basename } from 'node:path';
import { LineCounter, parseDocument, type Document } from 'yaml';
import { ConfigError } from '../channel/config-error.js';
import { YamlLocator } from '../channel/yaml-locator.js';
import { ExpressionError, parseCondition, parseValue, namesUsed, type Expr } from './expression.js';
import type { GroupDef } from './structure.js';
import type { IdentityDef, MapEntry, MapNode, MessageMapping, RequestMode, ResourceDef, Rule, SourcePos } from './model.js';

const SEGMENT_ID = /^[A-Z][A-Z0-9]{2}$/;
const GROUP_NAME = /^[A-Z][A-Z0-9_]*$/;
const RESOURCE_NAME = /^[a-z][A-Za-z0-9_]*$/;
const RESOURCE_TYPE = /^[A-Z][A-Za-z]+$/;
const KNOWN_FUNCTIONS = new Set(['present', 'empty', 'count', 'len', 'key', 'concat']);
const RULE_KEYS = new Set(['$value', '$const', '$ref', '$refs', '$first', '$forEach', '$build', '$when']);

export interface LoadContext {
  /** Converter names the engine knows, to catch typos at load. */
  readonly converters: ReadonlySet<string>;
}

class FileCompiler {
  readonly errors: ConfigError[] = [];
  private readonly locator: YamlLocator;

  constructor(
    readonly file: string,
    doc: Document,
    lines: LineCounter,
    private readonly ctx: LoadContext,
    private readonly templates: Readonly<Record<string, Record<string, unknown>>> = {},
    /** The templates as compiled in common.yaml, whose entries keep their positions there. */
    private readonly compiledTemplates: ReadonlyMap<string, ResourceDef> = new Map(),
  ) {
    this.locator = new YamlLocator(doc, lines);
    this.doc = doc;
  }

  private readonly doc: Document;

  private pos(path: readonly string[], key = false): SourcePos {
    const p = key ? this.locator.keyAt(path) : this.locator.valueAt(path);
    return { file: this.file, line: p.line, col: p.col };
  }

  error(path: readonly string[], detail: string, rule: string, key = false): void {
    const p = key ? this.locator.keyAt(path) : this.locator.valueAt(path);
    this.errors.push(new ConfigError(this.file, p.line, p.col, detail, rule));
  }

  private checkNames(e: Expr, path: readonly string[]): void {
    const used = namesUsed(e);
    for (const c of used.converters) {
      if (!this.ctx.converters.has(c)) this.error(path, `unknown converter "${c}"`, 'converter');
    }
    for (const f of used.functions) {
      if (!KNOWN_FUNCTIONS.has(f)) this.error(path, `unknown function "${f}" (use ${[...KNOWN_FUNCTIONS].join(', ')})`, 'function');
    }
  }

  value(src: unknown, path: readonly string[]): Expr | undefined {
    if (typeof src !== 'string') {
      this.error(path, 'expected an expression in quotes, e.g. "PID-5[*] | xpn"', 'type');
      return undefined;
    }
    try {
      const e = parseValue(src);
      this.checkNames(e, path);
      return e;
    } catch (err) {
      this.error(path, err instanceof ExpressionError ? err.message : String(err), 'expression');
      return undefined;
    }
  }

  condition(src: unknown, path: readonly string[]): Expr | undefined {
    if (typeof src !== 'string') {
      this.error(path, 'expected a condition in quotes, e.g. "present(PV1-45)"', 'type');
      return undefined;
    }
    try {
      const e = parseCondition(src);
      this.checkNames(e, path);
      return e;
    } catch (err) {
      this.error(path, err instanceof ExpressionError ? err.message : String(err), 'expression');
      return undefined;
    }
  }

  rule(src: unknown, path: readonly string[]): Rule | undefined {
    if (typeof src === 'string') {
      const expr = this.value(src, path);
      return expr ? { kind: 'expr', expr, source: src } : undefined;
    }
    if (typeof src === 'number' || typeof src === 'boolean') return { kind: 'const', value: src };
    if (Array.isArray(src)) {
      const items = src.map((s, i) => this.rule(s, [...path, String(i)])).filter((r): r is Rule => r !== undefined);
      return { kind: 'list', items };
    }
    if (src === null || typeof src !== 'object') {
      this.error(path, 'expected an expression, a list or a mapping', 'type');
      return undefined;
    }
    const obj = src as Record<string, unknown>;
    const keys = Object.keys(obj);
    const ruleKeys = keys.filter((k) => k.startsWith('$'));
    for (const k of ruleKeys) if (!RULE_KEYS.has(k)) this.error([...path, k], `unknown rule key "${k}" (use ${[...RULE_KEYS].join(', ')})`, 'rule', true);
    if (ruleKeys.length === 0) return { kind: 'object', map: this.map(obj, path) };
    const when = '$when' in obj ? this.condition(obj['$when'], [...path, '$when']) : undefined;
    const withWhen = <T extends object>(r: T): T => (when ? { ...r, when } : r);
    const plain = keys.filter((k) => !k.startsWith('$'));
    if ('$const' in obj) return withWhen({ kind: 'const' as const, value: obj['$const'] });
    if ('$value' in obj) {
      const expr = this.value(obj['$value'], [...path, '$value']);
      return expr ? withWhen({ kind: 'expr' as const, expr, source: String(obj['$value']) }) : undefined;
    }
    if ('$ref' in obj || '$refs' in obj) {
      const many = '$refs' in obj;
      const name = obj[many ? '$refs' : '$ref'];
      if (typeof name !== 'string' || !(name === '*' || RESOURCE_NAME.test(name))) {
        this.error([...path, many ? '$refs' : '$ref'], 'expected the name of a resource in this mapping (or "*")', 'ref');
        return undefined;
      }
      return withWhen({ kind: 'ref' as const, name, many });
    }
    if ('$first' in obj) {
      const list = obj['$first'];
      if (!Array.isArray(list)) {
        this.error([...path, '$first'], 'expected a list of rules; the first that yields a value wins', 'type');
        return undefined;
      }
      const rules = list.map((s, i) => this.rule(s, [...path, '$first', String(i)])).filter((r): r is Rule => r !== undefined);
      return withWhen({ kind: 'first' as const, rules });
    }
    if ('$forEach' in obj || '$build' in obj || plain.length > 0) {
      const forEach = '$forEach' in obj ? this.value(obj['$forEach'], [...path, '$forEach']) : undefined;
      const mapSrc = '$build' in obj ? obj['$build'] : Object.fromEntries(plain.map((k) => [k, obj[k]]));
      if (mapSrc === null || typeof mapSrc !== 'object' || Array.isArray(mapSrc)) {
        this.error([...path, '$build'], 'expected a mapping of element: rule', 'type');
        return undefined;
      }
      const map = this.map(mapSrc as Record<string, unknown>, '$build' in obj ? [...path, '$build'] : path);
      return withWhen({ kind: 'build' as const, ...(forEach ? { forEach } : {}), map });
    }
    this.error(path, '"$when" needs something to build: other keys, $value, $const, $ref or $first', 'rule');
    return undefined;
  }

  map(obj: Record<string, unknown>, path: readonly string[]): MapNode {
    const out: MapEntry[] = [];
    for (const [key, v] of Object.entries(obj)) {
      const choice = key.endsWith('[x]');
      const name = choice ? key.slice(0, -3) : key;
      const parts = name.split('.');
      if (parts.some((p) => !/^[a-zA-Z][A-Za-z0-9]*$/.test(p))) {
        this.error([...path, key], `"${key}" is not a FHIR element path (letters, dots between levels, optional [x])`, 'element', true);
        continue;
      }
      const rule = this.rule(v, [...path, key]);
      if (rule) out.push({ path: parts, choice, rule, source: this.pos([...path, key], true) });
    }
    return out;
  }

  resource(src: unknown, path: readonly string[], names: Set<string>): ResourceDef | undefined {
    if (src === null || typeof src !== 'object' || Array.isArray(src)) {
      this.error(path, 'expected a resource: name, type, map', 'type');
      return undefined;
    }
    let r = src as Record<string, unknown>;
    if (r['use'] !== undefined) {
      const t = typeof r['use'] === 'string' ? this.templates[r['use']] : undefined;
      if (!t) {
        this.error([...path, 'use'], `no template "${String(r['use'])}" in common.yaml (templates: ${Object.keys(this.templates).join(', ') || 'none'})`, 'use');
        return undefined;
      }
      // The resource's own keys win; its map entries are added to (or replace) the template's.
      const tm = (t['map'] ?? {}) as Record<string, unknown>;
      const rm = (r['map'] ?? {}) as Record<string, unknown>;
      r = { ...t, ...r, map: { ...tm, ...rm } };
    }
    const allowed = new Set(['name', 'type', 'from', 'forEach', 'when', 'identity', 'map', 'resources', 'use', 'required']);
    for (const k of Object.keys(r)) if (!allowed.has(k)) this.error([...path, k], `unknown key "${k}" in a resource (use ${[...allowed].join(', ')})`, 'additionalProperties', true);
    const name = r['name'];
    const type = r['type'];
    let ok = true;
    if (typeof name !== 'string' || !RESOURCE_NAME.test(name)) {
      this.error([...path, 'name'], 'resource name must start with a lower-case letter (letters, digits, _), e.g. patient', 'name');
      ok = false;
    } else if (names.has(name)) {
      this.error([...path, 'name'], `resource name "${name}" is used twice in this mapping`, 'duplicate-name');
    } else names.add(name);
    if (typeof type !== 'string' || !RESOURCE_TYPE.test(type)) {
      this.error([...path, 'type'], 'type must be a FHIR resource type, e.g. Patient', 'type');
      ok = false;
    }
    for (const k of ['from', 'forEach'] as const) {
      const v = r[k];
      if (v !== undefined && (typeof v !== 'string' || !(SEGMENT_ID.test(v) || GROUP_NAME.test(v)))) {
        this.error([...path, k], `${k} must name a segment (PID) or a group (ORDER)`, k);
        ok = false;
      }
    }
    const when = r['when'] !== undefined ? this.condition(r['when'], [...path, 'when']) : undefined;
    const identity = this.identity(r['identity'], [...path, 'identity']);
    const mapSrc = r['map'] ?? {};
    if (typeof mapSrc !== 'object' || mapSrc === null || Array.isArray(mapSrc)) {
      this.error([...path, 'map'], 'map must be a mapping of FHIR element: rule', 'type');
      ok = false;
    }
    let map = ok ? this.map(mapSrc as Record<string, unknown>, [...path, 'map']) : [];
    const template = typeof r['use'] === 'string' ? this.compiledTemplates.get(r['use']) : undefined;
    if (template) {
      // An entry the resource takes from its template is the template's, as written in common.yaml.
      const keyOf = (e: MapEntry): string => `${e.path.join('.')}${e.choice ? '[x]' : ''}`;
      const fromTemplate = new Map(template.map.map((e) => [keyOf(e), e]));
      map = map.map((e) => (this.doc.hasIn([...path, 'map', keyOf(e)]) ? e : (fromTemplate.get(keyOf(e)) ?? e)));
    }
    const childrenSrc = r['resources'] ?? [];
    const children: ResourceDef[] = [];
    if (!Array.isArray(childrenSrc)) this.error([...path, 'resources'], 'resources must be a list', 'type');
    else childrenSrc.forEach((c, i) => {
      const d = this.resource(c, [...path, 'resources', String(i)], names);
      if (d) children.push(d);
    });
    const reqSrc = r['required'] ?? [];
    const required = Array.isArray(reqSrc) && reqSrc.every((x) => typeof x === 'string') ? (reqSrc as string[]) : [];
    if (!Array.isArray(reqSrc) || required.length !== reqSrc.length) this.error([...path, 'required'], 'required must be a list of element names, e.g. [subject]', 'type');
    if (!ok) return undefined;
    return {
      required,
      name: name as string,
      type: type as string,
      ...(typeof r['from'] === 'string' ? { from: r['from'] } : {}),
      ...(typeof r['forEach'] === 'string' ? { forEach: r['forEach'] } : {}),
      ...(when ? { when } : {}),
      identity,
      map,
      children,
      source: this.pos(path),
      ...(typeof r['use'] === 'string' ? { template: r['use'] } : {}),
    };
  }

  identity(src: unknown, path: readonly string[]): IdentityDef {
    if (src === undefined) return { request: 'put' };
    if (src === null || typeof src !== 'object' || Array.isArray(src)) {
      this.error(path, 'identity must be a mapping: identifier, key, request', 'type');
      return { request: 'put' };
    }
    const o = src as Record<string, unknown>;
    for (const k of Object.keys(o)) if (!['identifier', 'key', 'request'].includes(k)) this.error([...path, k], `unknown key "${k}" in identity (use identifier, key, request)`, 'additionalProperties', true);
    const identifier = o['identifier'] !== undefined ? this.value(o['identifier'], [...path, 'identifier']) : undefined;
    let key: Expr[] | undefined;
    if (o['key'] !== undefined) {
      const list = Array.isArray(o['key']) ? o['key'] : [o['key']];
      key = list.map((k, i) => this.value(k, Array.isArray(o['key']) ? [...path, 'key', String(i)] : [...path, 'key'])).filter((e): e is Expr => e !== undefined);
    }
    const request = (o['request'] ?? (identifier ? 'conditional' : 'put')) as RequestMode;
    if (!['conditional', 'put', 'create-if-absent'].includes(request)) {
      this.error([...path, 'request'], 'request must be conditional, put or create-if-absent', 'enum');
    }
    return { ...(identifier ? { identifier } : {}), ...(key ? { key } : {}), request };
  }

  groups(src: unknown, path: readonly string[]): Map<string, GroupDef> {
    const out = new Map<string, GroupDef>();
    if (src === undefined) return out;
    if (src === null || typeof src !== 'object' || Array.isArray(src)) {
      this.error(path, 'groups must be a mapping of GROUP: {start, leading, members}', 'type');
      return out;
    }
    for (const [name, g] of Object.entries(src as Record<string, unknown>)) {
      const gp = [...path, name];
      if (!GROUP_NAME.test(name) || SEGMENT_ID.test(name)) {
        this.error(gp, `group name "${name}" must be upper case and longer than 3 characters (e.g. ORDER), so it cannot be mistaken for a segment`, 'group', true);
        continue;
      }
      const o = (g ?? {}) as Record<string, unknown>;
      const start = o['start'];
      if (typeof start !== 'string' || !SEGMENT_ID.test(start)) {
        this.error([...gp, 'start'], 'start must be a segment id, e.g. OBR', 'group');
        continue;
      }
      const list = (k: string): string[] => {
        const v = o[k];
        if (v === undefined) return [];
        if (!Array.isArray(v) || v.some((x) => typeof x !== 'string')) {
          this.error([...gp, k], `${k} must be a list of segment ids or group names`, 'group');
          return [];
        }
        return v as string[];
      };
      const members = list('members');
      out.set(name, { name, start, leading: list('leading'), members: members.includes(start) ? members : [start, ...members] });
    }
    for (const g of out.values()) {
      for (const m of g.members) {
        if (!SEGMENT_ID.test(m) && !out.has(m)) this.error([...path, g.name, 'members'], `"${m}" is neither a segment id nor a group of this mapping`, 'group');
      }
    }
    return out;
  }
}

function parseYaml(file: string): { doc: Document; lines: LineCounter; errors: ConfigError[]; data: unknown } {
  const text = readFileSync(file, 'utf8');
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  const errors = doc.errors.map((e) => {
    const p = lines.linePos(e.pos[0]);
    return new ConfigError(file, p.line, p.col, e.message.split('\n')[0] ?? e.message, 'syntax');
  });
  return { doc, lines, errors, data: errors.length ? null : doc.toJS() };
}

export interface CommonDefs {
  readonly resources: readonly ResourceDef[];
  /** Raw resource templates a message mapping can `use:`. */
  readonly templates: Readonly<Record<string, Record<string, unknown>>>;
  /** The same templates compiled, with the positions of their entries in common.yaml. */
  readonly compiledTemplates?: ReadonlyMap<string, ResourceDef>;
}

export function loadMessageMapping(file: string, common: CommonDefs, ctx: LoadContext): { mapping: MessageMapping | null; errors: ConfigError[] } {
  const { doc, lines, errors, data } = parseYaml(file);
  if (errors.length) return { mapping: null, errors };
  const c = new FileCompiler(file, doc, lines, ctx, common.templates, common.compiledTemplates);
  if (data === null || typeof data !== 'object' || Array.isArray(data)) {
    c.error([], 'a message mapping is a YAML mapping with id, messages, resources', 'type');
    return { mapping: null, errors: c.errors };
  }
  const o = data as Record<string, unknown>;
  const allowed = new Set(['id', 'messages', 'groups', 'ignore', 'resources', 'description']);
  for (const k of Object.keys(o)) if (!allowed.has(k)) c.error([k], `unknown key "${k}" (use ${[...allowed].join(', ')})`, 'additionalProperties', true);
  const id = typeof o['id'] === 'string' ? o['id'] : basename(file).replace(/\.ya?ml$/, '');
  const messages = o['messages'];
  if (!Array.isArray(messages) || messages.length === 0 || messages.some((m) => typeof m !== 'string' || !/^([A-Z0-9]{3}|\*)(\^([A-Z0-9]{1,3}|\*))?$/.test(m))) {
    c.error(['messages'], 'messages must list message types such as "ADT^A01" or "ORU^*"', 'messages');
  }
  const groups = c.groups(o['groups'], ['groups']);
  const names = new Set<string>();
  const resources: ResourceDef[] = [];
  const src = o['resources'];
  if (!Array.isArray(src)) c.error(['resources'], 'resources must be a list', 'required');
  else src.forEach((r, i) => {
    const d = c.resource(r, ['resources', String(i)], names);
    if (d) resources.push(d);
  });
  const ignore = Array.isArray(o['ignore']) ? (o['ignore'] as unknown[]).filter((x): x is string => typeof x === 'string') : [];
  if (c.errors.length) return { mapping: null, errors: c.errors };
  const commonFree = common.resources.filter((r) => !names.has(r.name));
  return {
    mapping: { id, file, messages: messages as string[], groups, resources: [...resources, ...commonFree], ignore },
    errors: [],
  };
}

/**
 * common.yaml: `resources` every message gets (MessageHeader, Provenance), and `templates`
 * (a patient, an encounter…) that message mappings reuse with `use:`.
 */
export function loadCommon(file: string, ctx: LoadContext): CommonDefs & { errors: ConfigError[] } {
  if (!existsSync(file)) return { resources: [], templates: {}, errors: [] };
  const { doc, lines, errors, data } = parseYaml(file);
  if (errors.length) return { resources: [], templates: {}, errors };
  const c = new FileCompiler(file, doc, lines, ctx);
  const o = (data ?? {}) as Record<string, unknown>;
  for (const k of Object.keys(o)) if (!['resources', 'templates', 'description'].includes(k)) c.error([k], `unknown key "${k}" (use resources, templates)`, 'additionalProperties', true);
  const templates: Record<string, Record<string, unknown>> = {};
  const compiledTemplates = new Map<string, ResourceDef>();
  const tsrc = o['templates'];
  if (tsrc !== undefined) {
    if (tsrc === null || typeof tsrc !== 'object' || Array.isArray(tsrc)) c.error(['templates'], 'templates must be a mapping of name: resource', 'type');
    else {
      for (const [name, t] of Object.entries(tsrc as Record<string, unknown>)) {
        // Compiled once here so a mistake is reported at its place in common.yaml.
        const compiled = c.resource({ name: 'template', ...(t as object) }, ['templates', name], new Set());
        if (compiled) compiledTemplates.set(name, compiled);
        templates[name] = t as Record<string, unknown>;
      }
    }
  }
  const out: ResourceDef[] = [];
  const names = new Set<string>();
  if (!Array.isArray(o['resources'])) c.error(['resources'], 'resources must be a list', 'required');
  else (o['resources'] as unknown[]).forEach((r, i) => {
    const d = c.resource(r, ['resources', String(i)], names);
    if (d) out.push(d);
  });
  return { resources: out, templates, compiledTemplates, errors: c.errors };
}

export function messageFiles(dir: string): string[] {
  const d = join(dir, 'messages');
  if (!existsSync(d)) return [];
  return readdirSync(d)
    .filter((f) => /\.ya?ml$/.test(f) && !f.startsWith('.'))
    .sort()
    .map((f) => join(d, f));
}
