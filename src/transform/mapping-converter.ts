/**
 * Binds a channel to its mapping set: where the set lives, loading it for the channel's site,
 * and a converter that also validates each Bundle against FHIR R4, so an invalid Bundle becomes
 * a `validation` dead letter instead of a record a FHIR server would refuse.
 *
 * Each Bundle is checked by the fast validator (src/fhir/validate-fast.ts), built for what can
 * only be known per message: the mapping's targets, types and cardinalities were already checked
 * against the R4 StructureDefinitions when it loaded. @medplum/core's full validator stays in
 * the tests as the referee: the fast one must reject every Bundle it rejects.
 */
import { dirname, isAbsolute, join, resolve } from 'node:path';
import type { Bundle } from '@medplum/fhirtypes';
import type { ChannelConfig } from '../channel/index.js';
import type { Hl7Message } from '../hl7/index.js';
import { loadFastValidator, validateBundleFast } from '../fhir/index.js';
import { convertMessage, loadMappingSet, mappingFingerprint, type ConversionResult, type MappingSet } from '../mapping/index.js';
import type { ConversionIssue } from '../mapping/types.js';
import type { MessageConverter } from './types.js';

/**
 * The folder of a channel's mapping set. `mapping: default` names a set in the mappings root
 * (by default the `mappings/` folder beside the channel folder, as in this repository); a value
 * with a slash or starting with "." is a folder path, relative to the channel file.
 */
export function mappingSetDir(channel: ChannelConfig, mappingsRoot?: string): string | null {
  const m = channel.mapping;
  if (m === null) return null;
  const channelDir = dirname(channel.file);
  if (isAbsolute(m)) return m;
  if (m.startsWith('.') || m.includes('/') || m.includes('\\')) return resolve(channelDir, m);
  return join(mappingsRoot ?? resolve(channelDir, '..', 'mappings'), m);
}

/** A conversion after validation; `rejected` keeps a Bundle that failed it, for the analyst to see. */
export interface CheckedConversion extends ConversionResult {
  readonly rejected: Bundle | null;
}

/**
 * Converts and validates. A Bundle with validation problems is withheld (bundle null) and each
 * problem becomes a `validation` issue naming the element path and rule, never a value.
 */
export function convertChecked(message: Hl7Message, set: MappingSet, opts: { validate?: boolean } = {}): CheckedConversion {
  const r = convertMessage(message, set);
  if (!r.bundle || opts.validate === false) return { bundle: r.bundle, issues: r.issues, unsupported: r.unsupported, rejected: null };
  const problems = validateBundleFast(r.bundle);
  if (problems.length === 0) return { bundle: r.bundle, issues: r.issues, unsupported: false, rejected: null };
  const invalid: ConversionIssue[] = problems.map((p) => ({ severity: 'error', code: 'validation', message: p.message, location: p.path }));
  return { bundle: null, issues: [...r.issues, ...invalid], unsupported: false, rejected: r.bundle };
}

export interface ChannelConverterOptions {
  /** Root folder of mapping sets; see mappingSetDir. */
  readonly mappingsRoot?: string;
  /** Validate each Bundle against FHIR R4 before publishing (default true). */
  readonly validate?: boolean;
}

/**
 * What a conversion thread needs to build the same converter as the engine's: the set's folder and
 * site, whether to validate, and the digest of the set's files as the engine loaded them. Plain
 * data, so it crosses to a worker thread (functions cannot).
 */
export interface ConverterSpec {
  readonly dir: string;
  readonly site: string | null;
  readonly validate: boolean;
  readonly fingerprint: string;
}

/** The spec of each converter built from a mapping set; a converter not listed runs only where it was made. */
const specs = new WeakMap<MessageConverter, ConverterSpec>();

/**
 * The spec a converter was built from, or null (a converter made in code, or a set edited while
 * it loaded, whose bytes a thread could not be sure to load again).
 */
export function converterSpecOf(convert: MessageConverter): ConverterSpec | null {
  return specs.get(convert) ?? null;
}

/**
 * Loads a set and returns it with the digest of its files, or a null digest when the files
 * changed while it loaded (the digest then names no single version of the set).
 */
function loadPinned(dir: string, site: string | null): { set: MappingSet; fingerprint: string | null } {
  const before = mappingFingerprint(dir);
  const set = loadMappingSet(dir, site ?? undefined);
  return { set, fingerprint: mappingFingerprint(dir) === before ? before : null };
}

/**
 * The converter for a channel, or null when the channel names no mapping set (its messages
 * then stay in the raw topic until it does). Throws MappingLoadError (file:line:col of every
 * problem) when the set does not load, so a broken mapping stops the start instead of
 * dead-lettering every message.
 */
export function converterForChannel(channel: ChannelConfig, opts: ChannelConverterOptions = {}): MessageConverter | null {
  const dir = mappingSetDir(channel, opts.mappingsRoot);
  if (dir === null) return null;
  const { set, fingerprint } = loadPinned(dir, channel.site);
  const validate = opts.validate ?? true;
  if (validate) loadFastValidator();
  const convert: MessageConverter = (message) => convertChecked(message, set, { validate });
  if (fingerprint !== null) specs.set(convert, { dir, site: channel.site, validate, fingerprint });
  return convert;
}

/**
 * Builds, in a conversion thread, the converter `spec` describes. Throws when the set's files are
 * no longer the bytes the engine loaded (edited since): converting with another version would
 * give other bytes than the engine's converter, so the caller converts those records in the
 * engine's thread instead.
 */
export function converterFromSpec(spec: ConverterSpec): MessageConverter {
  const { set, fingerprint } = loadPinned(spec.dir, spec.site);
  if (fingerprint !== spec.fingerprint) {
    throw new Error(`mapping set ${spec.dir} changed since the engine loaded it; its records are converted in the engine's thread`);
  }
  if (spec.validate) loadFastValidator();
  return (message) => convertChecked(message, set, { validate: spec.validate });
}
