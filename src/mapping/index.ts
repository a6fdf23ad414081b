/**
 * The mapping stage's public face: load a mapping set (mappings/<set>/) for a site, and convert
 * a parsed message into a FHIR R4 transaction Bundle plus the issues met on the way.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Bundle } from '@medplum/fhirtypes';
import type { Hl7Message } from '../hl7/index.js';
import { ConfigError, configErrorsOf } from '../config/index.js';
import { matchesMessageType } from '../channel/message-type.js';
import { CONVERTERS } from './converters/index.js';
import { createCodeSystemRegistry } from './code-systems.js';
import { loadTables } from './tables.js';
import { DEFAULT_SITE, loadSite } from './site.js';
import { loadCommon, loadMessageMapping, messageFiles } from './loader.js';
import { BundleBuilder } from './bundle.js';
import { compileMapping, type ConvertEnv } from './evaluate.js';
import { checkMappingTargets } from './check-targets.js';
import type { MessageMapping } from './model.js';
import type { ConversionIssue, SiteConfig } from './types.js';

export type { ConversionIssue, IssueCode, IssueSeverity, SiteConfig } from './types.js';
export { ExpressionError, parseValue, parseCondition } from './expression.js';
export { mappingFingerprint } from './fingerprint.js';

export interface MappingSet {
  readonly dir: string;
  readonly site: SiteConfig;
  readonly messages: readonly MessageMapping[];
  readonly env: ConvertEnv;
}

/**
 * What one conversion produced. The transform stage takes this from any MessageConverter (a
 * mapping set, or a stand-in in tests), so only a mapping set names the mapping it used.
 */
export interface ConversionResult {
  /** The transaction Bundle, or null when nothing may be published. */
  readonly bundle: Bundle | null;
  readonly issues: readonly ConversionIssue[];
  /** True when no mapping in the set handles this message type. */
  readonly unsupported: boolean;
  /** Id of the message mapping used, when one was. */
  readonly mappingId?: string | null;
}

/** Thrown by loadMappingSet with every error found; each names file:line:col and the rule. */
export class MappingLoadError extends Error {
  readonly errors: readonly ConfigError[];
  constructor(errors: readonly ConfigError[]) {
    super(`${errors.length} error(s) in the mapping set:\n${errors.map((e) => e.message).join('\n')}`);
    this.name = 'MappingLoadError';
    this.errors = errors;
  }
}

/**
 * Loads mappings/<set>: messages/*.yaml, common.yaml, tables/*.yaml, and sites/<site>.yaml
 * (DEFAULT_SITE when no site is named). Throws MappingLoadError listing every problem.
 */
export function loadMappingSet(dir: string, siteName?: string): MappingSet {
  const errors: ConfigError[] = [];
  let site: SiteConfig = DEFAULT_SITE;
  if (siteName) {
    const file = [join(dir, 'sites', `${siteName}.yaml`), join(dir, 'sites', `${siteName}.yml`)].find((f) => existsSync(f));
    if (!file) throw new MappingLoadError([new ConfigError(join(dir, 'sites', `${siteName}.yaml`), 1, 1, `site "${siteName}" has no file in ${join(dir, 'sites')}`, 'site')]);
    try {
      site = loadSite(file);
    } catch (err) {
      if (err instanceof ConfigError) errors.push(...configErrorsOf(err));
      else throw err;
    }
  }
  let tables: ConvertEnv['tables'] | null = null;
  try {
    tables = loadTables(join(dir, 'tables'), site);
  } catch (err) {
    if (err instanceof ConfigError) errors.push(...configErrorsOf(err));
    else throw err;
  }
  const ctx = { converters: new Set(Object.keys(CONVERTERS)) };
  const common = loadCommon(join(dir, 'common.yaml'), ctx);
  errors.push(...common.errors);
  const messages: MessageMapping[] = [];
  for (const file of messageFiles(dir)) {
    const r = loadMessageMapping(file, common, ctx);
    errors.push(...r.errors);
    if (r.mapping) messages.push(r.mapping);
  }
  // What the mappings build, against the FHIR R4 definitions: a wrong element is a load error.
  errors.push(...checkMappingTargets(messages));
  if (messages.length === 0 && errors.length === 0) {
    errors.push(new ConfigError(join(dir, 'messages'), 1, 1, 'the mapping set has no message mappings (messages/*.yaml)', 'required'));
  }
  if (errors.length > 0 || !tables) throw new MappingLoadError(errors);
  const env: ConvertEnv = { site, tables, codeSystems: createCodeSystemRegistry(site), converters: CONVERTERS };
  // Compiled here, once per load (a hot reload loads anew), so no message pays for it.
  for (const m of messages) compileMapping(m, env);
  return { dir, site, messages, env };
}

/** The message mapping for a message type, first match in file order. */
export function mappingFor(set: MappingSet, code: string, trigger: string): MessageMapping | null {
  return set.messages.find((m) => m.messages.some((p) => matchesMessageType(p, code, trigger))) ?? null;
}

export function convertMessage(message: Hl7Message, set: MappingSet): ConversionResult {
  const msh = message.msh();
  const mapping = mappingFor(set, msh.messageCode, msh.triggerEvent);
  if (!mapping) {
    return {
      bundle: null,
      issues: [{ severity: 'error', code: 'unsupported-message', message: `no mapping for ${msh.messageCode}^${msh.triggerEvent} in ${set.dir}` }],
      unsupported: true,
      mappingId: null,
    };
  }
  const builder = new BundleBuilder(message, mapping, set.env);
  const bundle = builder.run();
  return { bundle, issues: builder.issues, unsupported: false, mappingId: mapping.id };
}

// The outbound (FHIR → v2) stage runs the same tables, site overlays and coding system names backwards.
export { loadTables, CodeTables, type CodeTable } from './tables.js';
export { loadSite, DEFAULT_SITE } from './site.js';
export { STANDARD_CODE_SYSTEMS, fallbackCodeSystem } from './code-systems.js';
export { NAME_USE, ADDRESS_USE, TELECOM_USE, TELECOM_SYSTEM } from './converters/vocabulary.js';
