/**
 * A destination's filter: a condition in the outbound expression language (the `when` of the
 * outbound mappings), judged against the whole record (a Bundle or one resource). Paths start at
 * a resource type, e.g. `DiagnosticReport.status = 'final'`, or
 * `Patient.identifier.where(system = 'urn:oid:1.2.3') and not(Patient.deceased)`.
 */
import { OUT_CONVERTERS } from './converters.js';
import { BundleIndex, evalCondition, type Scope } from './evaluate.js';
import { convertersUsed, OutExpressionError, parseOutCondition } from './expression.js';
import type { OutboundSet } from './generate.js';
import type { OutCondition } from './model.js';

export type FilterCondition = OutCondition;

/** Parses a filter; throws OutExpressionError (with its column) when it is not a condition or names an unknown converter. */
export function parseFilter(src: string): FilterCondition {
  const c = parseOutCondition(src);
  for (const name of convertersUsed(c)) {
    if (!(name in OUT_CONVERTERS)) {
      throw new OutExpressionError(`unknown converter "${name}" (outbound converters: ${Object.keys(OUT_CONVERTERS).join(', ')})`, Math.max(1, src.indexOf(name) + 1));
    }
  }
  return c;
}

/** Whether the record passes; the set gives converters their site and code tables. */
export function passesFilter(c: FilterCondition, input: unknown, set: OutboundSet): boolean {
  const bundle = new BundleIndex(input);
  const scope: Scope = {
    bundle,
    focus: undefined,
    context: undefined,
    index: 1,
    event: '',
    messageTime: '',
    cx: { site: set.site, tables: set.tables, version: '2.5.1', resolve: (v) => bundle.resolve(v), report: () => undefined },
  };
  return evalCondition(c, scope);
}
