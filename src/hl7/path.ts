/**
 * Paths into a message, in the notation integration analysts already write in mapping
 * configuration: "PID-3", "PID-3[2].4.1", "OBX[2]-5", "PID-3[*]", "OBX[*]-5".
 *
 * Numbers are 1-based. A missing occurrence or repetition index means the first one; "*" means
 * every one (only meaningful to getAll). Paths come from configuration, never from messages, so
 * a malformed one is a programming or configuration error and throws.
 */

/** 0 in `occurrence`/`repetition` means "all" ([*]). 0 in component/subcomponent means "whole". */
export interface Hl7Path {
  readonly text: string;
  readonly segment: string;
  readonly occurrence: number;
  readonly field: number;
  readonly repetition: number;
  readonly component: number;
  readonly subcomponent: number;
}

/** A path inside one segment, e.g. "5", "3[2].4.1". */
export interface FieldPath {
  readonly text: string;
  readonly field: number;
  readonly repetition: number;
  readonly component: number;
  readonly subcomponent: number;
}

const MESSAGE_PATH =
  /^([A-Z0-9]{3})(?:\[(\d+|\*)\])?-(\d+)(?:\[(\d+|\*)\])?(?:\.(\d+)(?:\.(\d+))?)?$/;
const FIELD_PATH = /^(\d+)(?:\[(\d+|\*)\])?(?:\.(\d+)(?:\.(\d+))?)?$/;

const CACHE_LIMIT = 2048;
const messagePaths = new Map<string, Hl7Path>();
const fieldPaths = new Map<string, FieldPath>();

function index(text: string | undefined, path: string, what: string, allowAll: boolean): number {
  if (text === undefined) return 1;
  if (text === '*') {
    if (!allowAll) throw new Error(`HL7 path "${path}": "*" is not allowed for the ${what}`);
    return 0;
  }
  const n = Number(text);
  if (n < 1 || !Number.isSafeInteger(n)) {
    throw new Error(`HL7 path "${path}": the ${what} number must be 1 or more`);
  }
  return n;
}

function sub(text: string | undefined, path: string, what: string): number {
  return text === undefined ? 0 : index(text, path, what, false);
}

function remember<T>(cache: Map<string, T>, key: string, value: T): T {
  // Paths come from configuration, so the set is small; the cap only guards against misuse.
  if (cache.size >= CACHE_LIMIT) cache.clear();
  cache.set(key, value);
  return value;
}

/** Parses (and caches) a path such as "PID-3[2].4.1". Throws an Error naming the path. */
export function parsePath(path: string): Hl7Path {
  const cached = messagePaths.get(path);
  if (cached !== undefined) return cached;
  const m = MESSAGE_PATH.exec(path);
  if (m === null) {
    throw new Error(
      `invalid HL7 path "${path}": expected SEG[-occurrence]-field[repetition].component.subcomponent, e.g. "PID-3[2].4.1" or "OBX[2]-5"`,
    );
  }
  const compiled: Hl7Path = Object.freeze({
    text: path,
    segment: m[1] ?? '',
    occurrence: index(m[2], path, 'segment occurrence', true),
    field: index(m[3], path, 'field', false),
    repetition: index(m[4], path, 'repetition', true),
    component: sub(m[5], path, 'component'),
    subcomponent: sub(m[6], path, 'subcomponent'),
  });
  return remember(messagePaths, path, compiled);
}

/** Parses (and caches) a path relative to a segment, such as "5" or "3[2].4.1". */
export function parseFieldPath(path: string): FieldPath {
  const cached = fieldPaths.get(path);
  if (cached !== undefined) return cached;
  const m = FIELD_PATH.exec(path);
  if (m === null) {
    throw new Error(
      `invalid HL7 field path "${path}": expected field[repetition].component.subcomponent, e.g. "3[2].4.1"`,
    );
  }
  const compiled: FieldPath = Object.freeze({
    text: path,
    field: index(m[1], path, 'field', false),
    repetition: index(m[2], path, 'repetition', true),
    component: sub(m[3], path, 'component'),
    subcomponent: sub(m[4], path, 'subcomponent'),
  });
  return remember(fieldPaths, path, compiled);
}
