import type { SchemaError } from './channel-schema.js';

/**
 * Turns JSON Schema errors into sentences an integration analyst can act on, naming the setting
 * the way it is written in the file (listener.port, accept.messageTypes[2]).
 */

/** Instance path segments from a JSON Pointer ("/listener/port" → ["listener", "port"]). */
export function pointerSegments(pointer: string): string[] {
  if (pointer === '') return [];
  return pointer
    .slice(1)
    .split('/')
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
}

/** "listener.port", "accept.messageTypes[0]"; the empty path is the whole file. */
export function settingName(segments: readonly string[]): string {
  let out = '';
  for (const s of segments) {
    if (/^[0-9]+$/.test(s)) out += `[${s}]`;
    else out += out === '' ? s : `.${s}`;
  }
  return out;
}

/** Plain-language explanations for the patterns, keyed by where they sit in the schema. */
const PATTERN_HINTS: Readonly<Record<string, string>> = {
  '#/properties/name/pattern':
    "must use only lower-case letters, digits, '_' and '-', starting with a letter or digit (it becomes a Kafka topic prefix)",
  '#/properties/accept/properties/messageTypes/items/pattern':
    "must be CODE^EVENT with '*' as a wildcard, e.g. ADT^A01, ADT^* or ORU^R01",
  '#/definitions/topic/pattern':
    "must use only letters, digits, '.', '_' and '-' (Kafka topic name rules)",
  '#/properties/ack/properties/application/pattern':
    'must not contain HL7 delimiters (| ^ ~ \\ &) or line breaks',
  '#/properties/ack/properties/facility/pattern':
    'must not contain HL7 delimiters (| ^ ~ \\ &) or line breaks',
};

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

function jsonType(value: unknown): string {
  if (value === null || value === undefined) return 'empty';
  if (Array.isArray(value)) return 'array';
  if (typeof value === 'number') return Number.isInteger(value) ? 'integer' : 'number';
  return typeof value;
}

function typeWording(type: string): string {
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

export interface LocatedMessage {
  /** Path to the node the message should point at. */
  readonly at: readonly string[];
  /** Point at the key itself rather than its value. */
  readonly atKey: boolean;
  readonly detail: string;
}

/** The sentence for one schema error and where in the file it belongs. */
export function describeSchemaError(error: SchemaError): LocatedMessage {
  const path = pointerSegments(error.instancePath);
  const name = settingName(path);
  const params: Record<string, unknown> = error.params;
  switch (error.keyword) {
    case 'required': {
      const missing = String(params['missingProperty']);
      const where = name === '' ? 'the channel file' : name;
      return {
        at: path,
        atKey: false,
        detail: `${settingName([...path, missing])} is required but missing from ${where}`,
      };
    }
    case 'additionalProperties': {
      const extra = String(params['additionalProperty']);
      return {
        at: [...path, extra],
        atKey: true,
        detail: `${settingName([...path, extra])} is not a known setting${unknownKeyHint(extra, knownKeys(error))}`,
      };
    }
    case 'enum': {
      const allowed = Array.isArray(params['allowedValues']) ? params['allowedValues'] : [];
      return { at: path, atKey: false, detail: `${name} must be one of: ${allowed.join(', ')}` };
    }
    case 'type': {
      const subject = name === '' ? 'the channel file' : name;
      const expected = String(params['type']);
      return {
        at: path,
        atKey: false,
        detail: `${subject} must be ${typeWording(expected)}, not ${typeWording(jsonType(error.data))}`,
      };
    }
    case 'pattern': {
      const hint = PATTERN_HINTS[error.schemaPath];
      return { at: path, atKey: false, detail: `${name} ${hint ?? error.message ?? 'has the wrong form'}` };
    }
    default:
      return { at: path, atKey: false, detail: `${name === '' ? 'the channel file' : name} ${error.message ?? 'is invalid'}` };
  }
}
