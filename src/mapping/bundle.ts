/**
 * Assembles the FHIR transaction Bundle for one message: which resource instances a mapping
 * yields (from / forEach / when), their identity (business key → deterministic id), their
 * requests, and the entries for resources converters met (Practitioner, Location, …). The values
 * come from the evaluator (evaluate.ts), asked per instance scope. Deterministic by construction:
 * the same message and mapping give the same bytes (ids are UUIDv5 of site|type|business key,
 * nothing reads the clock or a random source).
 */
import type { Bundle, BundleEntry, Resource } from '@medplum/fhirtypes';
import type { Hl7Message } from '../hl7/index.js';
import { deterministicId, uuidUrn } from '../fhir/ids.js';
import { compileMapping, Run, type BuiltResource, type CompiledMapping, type CompiledResource, type Scope, type ConvertEnv, type EvalHost } from './evaluate.js';
import type { MessageMapping, ResourceDef } from './model.js';
import type { ResourceRef } from './resource-ref.js';
import type { ConversionIssue } from './types.js';
import { IssueLog } from './issue-log.js';

interface Instance extends BuiltResource {
  readonly def: ResourceDef;
  readonly identifierQuery: string | null;
  /** Its place in `entries`, so run() can change its request once the whole bundle is known. */
  readonly entryIndex: number;
  resource: Record<string, unknown> | null;
}

interface Request {
  readonly method: 'PUT' | 'POST';
  readonly url: string;
  readonly ifNoneExist?: string;
}

/** One message through one mapping: run() once, then read `issues`. */
export class BundleBuilder implements EvalHost {
  private readonly log = new IssueLog();
  private readonly entries: BundleEntry[] = [];
  private readonly all: Instance[] = [];
  private readonly refEntries = new Set<string>();
  private readonly usedIds = new Set<string>();
  private readonly messageKey: string;
  private readonly run_: Run;
  private readonly compiled: CompiledMapping;

  constructor(
    private readonly message: Hl7Message,
    private readonly mapping: MessageMapping,
    private readonly env: ConvertEnv,
  ) {
    const msh = message.msh();
    this.messageKey = `${msh.sendingApplication}|${msh.sendingFacility}|${msh.controlId}`;
    this.run_ = new Run(message, mapping.groups, env, this, this.log);
    this.compiled = compileMapping(mapping, env);
  }

  run(): Bundle {
    this.buildAll(this.compiled.resources, this.run_.root());
    this.unconditionRepeatedIdentifiers();
    this.reportUnmapped();
    return {
      resourceType: 'Bundle',
      id: deterministicId(this.env.site.name, 'Bundle', this.messageKey),
      type: 'transaction',
      entry: this.entries,
    };
  }

  /** Each distinct issue met, in the order first met. */
  get issues(): ConversionIssue[] {
    return this.log.list;
  }

  // ---------------------------------------------------------------- EvalHost

  finished(): readonly BuiltResource[] {
    return this.all.filter((i) => i.resource !== null);
  }

  /** A Practitioner, Location or Organization a converter produced: one entry per key, then a Reference. */
  referenceTo(ref: ResourceRef): { reference: string } {
    const type = ref.resource.resourceType;
    // Without a system-qualified identifier, a bare id ("1") or a name is not enough to say two
    // references are the same person or place: the content decides, so different people sent
    // with the same bare id do not collapse into one resource.
    const key = ref.identifierQuery ? ref.key : `${ref.key}|${JSON.stringify(ref.resource)}`;
    const id = cachedId(this.env.site.name, type, key);
    if (!this.refEntries.has(id)) {
      this.refEntries.add(id);
      const resource: Record<string, unknown> = { resourceType: type };
      const request: Request = ref.identifierQuery
        ? { method: 'POST', url: type, ifNoneExist: `identifier=${encodeQuery(ref.identifierQuery)}` }
        : { method: 'PUT', url: `${type}/${id}` };
      if (request.method === 'PUT') resource['id'] = id;
      const { resourceType: _t, ...rest } = ref.resource as unknown as Record<string, unknown>;
      Object.assign(resource, rest);
      this.entries.push({ fullUrl: uuidUrn(id), resource: resource as unknown as Resource, request });
    }
    return { reference: uuidUrn(id) };
  }

  // ---------------------------------------------------------------- resources

  private buildAll(defs: readonly CompiledResource[], scope: Scope): void {
    for (const c of defs) {
      for (const s of this.instanceScopes(c.def, scope)) {
        if (c.when && !c.when(this.run_, s)) continue;
        this.buildOne(c, s, scope);
      }
    }
  }

  /** One scope per instance of `def`: per forEach occurrence, one when `from` is there, else one. */
  private instanceScopes(def: ResourceDef, scope: Scope): Scope[] {
    if (def.forEach) return this.run_.each(scope, def.forEach);
    if (def.from) {
      const found = this.run_.first(scope, def.from);
      return found ? [found] : [];
    }
    return [scope];
  }

  private buildOne(c: CompiledResource, scope: Scope, enclosing: Scope): void {
    const def = c.def;
    const ordinal = enclosing.lookup(def.name, true).length + 1;
    const found = this.identity(c, scope, ordinal);
    let { key } = found;
    const { identifierQuery } = found;
    let id = cachedId(this.env.site.name, def.type, key);
    if (this.usedIds.has(id)) {
      // Two instances with the same business key in one message (the same OBX code twice
      // without a sub-id): a transaction cannot PUT one URL twice, so the later one is told
      // apart by its position, which is stable for the same message.
      key = `${key}|#${ordinal}`;
      id = cachedId(this.env.site.name, def.type, key);
      const byId = identifierQuery !== null && def.identity.request !== 'put' ? `; every ${def.type} with that identifier is written by id (PUT ${def.type}/id), since a conditional write on it would match more than one` : '';
      this.log.report({
        severity: 'warning',
        code: 'identity-fallback',
        message: `${def.type} "${def.name}" repeats the business key of an earlier one in this message; told apart by its position (${ordinal})${byId}`,
      });
    }
    this.usedIds.add(id);
    const entryIndex = this.entries.length;
    const inst: Instance = { name: def.name, def, id, key, identifierQuery, entryIndex, resource: null };
    // Registered before its children and its own map, so both can refer to it.
    if (scope !== enclosing) scope.register(inst);
    else enclosing.register(inst);
    this.all.push(inst);
    this.entries.push({}); // keeps parents before children in the bundle
    // A resource's own nested resources are its alone: `$refs: observation` in a report that
    // has none must not reach up to the message and take the previous reports' results.
    if (scope !== enclosing) scope.declareNested(nestedNames(c.children));
    this.buildAll(c.children, scope);
    const body = c.map(this.run_, scope);
    const resource: Record<string, unknown> = { resourceType: def.type };
    const request = this.request(def, id, identifierQuery);
    if (request.method === 'PUT' && !request.url.includes('?')) resource['id'] = id;
    Object.assign(resource, body);
    for (const el of def.required) {
      if (!hasElement(resource, el)) {
        this.log.report({
          severity: 'error',
          code: 'missing-required',
          message: `${def.type}.${el} is required by FHIR but the message gives nothing for it (mapping ${this.mapping.id}, resource ${def.name})`,
          location: def.name,
        });
      }
    }
    inst.resource = resource;
    this.entries[entryIndex] = { fullUrl: uuidUrn(id), resource: resource as unknown as Resource, request };
  }

  /**
   * Two resources of one type in one message with the same identifier (ORU orders that share a
   * placer number) cannot be written conditionally: after the first delivery the server holds
   * both, so a resend's `PUT Type?identifier=…` (or `ifNoneExist`) matches two and fails with
   * 412 (FHIR R4 http.html#cond-update). All of them, the first included, go by their
   * deterministic ids instead, so a resend updates the same resources. Only known once every
   * resource is built, hence this pass at the end; references are urn:uuid fullUrls and follow.
   */
  private unconditionRepeatedIdentifiers(): void {
    const holders = new Map<string, Instance[]>();
    for (const inst of this.all) {
      if (inst.identifierQuery === null || inst.resource === null) continue;
      const q = `${inst.def.type}|${inst.identifierQuery}`;
      const list = holders.get(q);
      if (list) list.push(inst);
      else holders.set(q, [inst]);
    }
    for (const list of holders.values()) {
      if (list.length < 2) continue;
      for (const inst of list) {
        const entry = this.entries[inst.entryIndex]!;
        const resource = inst.resource!;
        if (resource['id'] === undefined) {
          // In place (others may hold this object) and with the id right after resourceType, as
          // a PUT by id is written everywhere else.
          const { resourceType, ...rest } = resource;
          for (const k of Object.keys(resource)) delete resource[k];
          Object.assign(resource, { resourceType, id: inst.id }, rest);
        }
        entry.request = { method: 'PUT', url: `${inst.def.type}/${inst.id}` };
      }
    }
  }

  private identity(c: CompiledResource, scope: Scope, ordinal: number): { key: string; identifierQuery: string | null } {
    const def = c.def;
    let identifierQuery: string | null = null;
    if (c.identifier) {
      for (const v of c.identifier(this.run_, scope)) {
        const ident = v as { system?: string; value?: string } | undefined;
        if (ident && typeof ident === 'object' && ident.value && ident.system && identifierQuery === null) {
          identifierQuery = `${ident.system}|${ident.value}`;
        }
      }
    }
    // A business identifier with a system is the best key: it is what other systems share.
    if (identifierQuery) return { key: identifierQuery, identifierQuery };
    if (c.key) {
      const parts = c.key.map((f) => f(this.run_, scope).join('~'));
      if (parts.some((p) => p !== '')) return { key: parts.join('|'), identifierQuery };
    }
    this.log.report({
      severity: 'information',
      code: 'identity-fallback',
      message: `${def.type} "${def.name}" has no business identifier here; its id is derived from the message control id`,
    });
    return { key: `${this.messageKey}|${def.name}|${ordinal}`, identifierQuery: null };
  }

  private request(def: ResourceDef, id: string, query: string | null): Request {
    const mode = def.identity.request;
    const q = query ? `identifier=${encodeQuery(query)}` : null;
    if (mode === 'conditional' && q) return { method: 'PUT', url: `${def.type}?${q}` };
    if (mode === 'create-if-absent' && q) return { method: 'POST', url: def.type, ifNoneExist: q };
    return { method: 'PUT', url: `${def.type}/${id}` };
  }

  private reportUnmapped(): void {
    const read = this.run_.read;
    const seen = new Set<string>();
    this.run_.segmentIds.forEach((id, i) => {
      if (read[i] === 1 || this.mapping.ignore.includes(id) || seen.has(id)) return;
      seen.add(id);
      this.log.report({
        severity: 'information',
        code: 'unmapped-segment',
        message: `segment ${id} is not used by mapping ${this.mapping.id}`,
        location: id,
      });
    });
  }
}

/**
 * UUIDv5 is a SHA-1 per id; the same practitioners, locations and organisations recur in every
 * message of a feed, so their ids are remembered (bounded: the oldest half is dropped when full).
 */
const ID_CACHE = new Map<string, string>();
const ID_CACHE_MAX = 20_000;
function cachedId(site: string, type: string, key: string): string {
  const k = `${site}|${type}|${key}`;
  let id = ID_CACHE.get(k);
  if (id === undefined) {
    id = deterministicId(site, type, key);
    if (ID_CACHE.size >= ID_CACHE_MAX) {
      let drop = ID_CACHE_MAX / 2;
      for (const old of ID_CACHE.keys()) {
        ID_CACHE.delete(old);
        if (--drop === 0) break;
      }
    }
    ID_CACHE.set(k, id);
  }
  return id;
}

function encodeQuery(systemValue: string): string {
  const bar = systemValue.indexOf('|');
  if (bar < 0) return encodeURIComponent(systemValue);
  return `${encodeURIComponent(systemValue.slice(0, bar))}|${encodeURIComponent(systemValue.slice(bar + 1))}`;
}

/** Whether `resource` has element `el`; a choice element (`occurrence[x]`) under any of its typed names. */
function hasElement(resource: Record<string, unknown>, el: string): boolean {
  if (!el.endsWith('[x]')) return resource[el] !== undefined;
  const base = el.slice(0, -3);
  return Object.keys(resource).some((k) => k.length > base.length && k.startsWith(base) && /[A-Z]/.test(k.charAt(base.length)));
}

/** The names of `defs` and of every resource nested inside them. */
function nestedNames(defs: readonly CompiledResource[], out: Set<string> = new Set()): Set<string> {
  for (const c of defs) {
    out.add(c.def.name);
    nestedNames(c.children, out);
  }
  return out;
}
