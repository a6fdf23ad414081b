/**
 * What every converter needs from its surroundings: reading arguments, reporting issues at the
 * right HL7 location, and telling "nothing sent" from a value.
 */
import type { ConversionIssue, ConverterArg, ConverterContext, IssueCode, IssueSeverity, V2Value } from '../types.js';

export type Args = Readonly<Record<string, ConverterArg>>;

/**
 * An argument by name, or by position for the unnamed form (`code(hl7-0001)`): the evaluator
 * passes positional arguments under "0", "1", ….
 */
export function arg(args: Args, name: string, position?: number): ConverterArg {
  const named = args[name];
  if (named !== undefined) return named;
  return position === undefined ? undefined : args[String(position)];
}

/** An argument as text: a literal as written, a path as the unescaped value it points at. */
export function argText(args: Args, name: string, position?: number): string | undefined {
  const a = arg(args, name, position);
  if (a === undefined) return undefined;
  const s = typeof a === 'string' ? a : a.text;
  const t = s.trim();
  return t === '' ? undefined : t;
}

/** An argument as a value to convert (a path), or undefined when given as a literal or not at all. */
export function argValue(args: Args, name: string, position?: number): V2Value | undefined {
  const a = arg(args, name, position);
  return a === undefined || typeof a === 'string' ? undefined : a;
}

export function report(
  ctx: ConverterContext,
  severity: IssueSeverity,
  code: IssueCode,
  message: string,
  where?: string,
  table?: string,
): void {
  const location = where ?? ctx.location;
  const issue: ConversionIssue = table === undefined ? { severity, code, message, location } : { severity, code, message, location, table };
  ctx.issues.report(issue);
}

/** HL7 location of a component (or subcomponent) of the value being converted: "PID-3[2].4". */
export function within(ctx: ConverterContext, component: number, sub?: number): string {
  return sub === undefined ? `${ctx.location}.${component}` : `${ctx.location}.${component}.${sub}`;
}

/** The same context, pointing issues at a component, for helpers that report on their own. */
export function at(ctx: ConverterContext, location: string): ConverterContext {
  return { ...ctx, location };
}

/**
 * Trimmed text, or undefined for nothing sent. HL7 `""` (the explicit null: "delete what you
 * have") has no FHIR equivalent in a create/update bundle, so it reads as absent.
 * Fixed-width senders pad with spaces, and FHIR rejects whitespace-only strings.
 */
export function clean(s: string): string | undefined {
  const t = s.trim();
  return t === '' || t === '""' ? undefined : t;
}

/** Component n (subcomponent m) of a value, cleaned. */
export function comp(v: V2Value, n: number, m?: number): string | undefined {
  return clean(v.at(n, m));
}

/** Drops undefined members so FHIR JSON never carries `"x": undefined` (byte-stable output). */
export function compact<T extends object>(o: T): T {
  // for-in over an object literal visits its own keys in Object.entries order, without the pairs.
  const out: Record<string, unknown> = {};
  const src = o as Record<string, unknown>;
  for (const k in src) {
    const v = src[k];
    if (v !== undefined) out[k] = v;
  }
  return out as T;
}

export function isEmptyObject(o: object): boolean {
  for (const _ in o) return false;
  return true;
}

export function nonEmpty<T>(list: readonly (T | undefined)[]): T[] | undefined {
  const out: T[] = [];
  for (const x of list) if (x !== undefined) out.push(x);
  return out.length === 0 ? undefined : out;
}

/** A record entry by key, ignoring inherited members ("constructor" is not a configured authority). */
export function own<T>(record: Readonly<Record<string, T>>, key: string | undefined): T | undefined {
  return key !== undefined && Object.hasOwn(record, key) ? record[key] : undefined;
}

/**
 * A code (coding system name, authority namespace) quoted for an issue message when it looks
 * like a code: short printable ASCII. Anything longer could be free text, so only its length is told.
 */
export function quoted(code: string): string {
  return /^[\x21-\x7e]( ?[\x21-\x7e]){0,19}$/.test(code) ? `'${code}'` : `of ${code.length} characters`;
}
