/**
 * Shared shapes of the mapping stage: values read from a message, the context converters run
 * in, and the issues every conversion reports. Converters, code tables, site overlays and the
 * evaluator all code against this file.
 */
import type { Delimiters } from '../hl7/types.js';
import { unescapeValue } from '../hl7/escape.js';

export type IssueSeverity = 'error' | 'warning' | 'information';

/** Stable issue codes: dashboards count them (hl7_conversion_issues_total{code}). */
export type IssueCode =
  | 'unknown-code' // a code not in its table; the original is kept
  | 'unknown-code-system' // a v2 coding system name with no URI
  | 'unknown-authority' // an assigning authority with no identifier system
  | 'unmapped-segment' // a segment the mapping does not use
  | 'padded-precision' // a v2 time written with more precision than sent
  | 'dropped-repetition' // several values where FHIR allows one
  | 'invalid-value' // a value that does not fit its datatype (bad date, non-numeric NM)
  | 'identity-fallback' // a resource identified by its fallback key
  | 'missing-required' // a value the mapping requires is absent
  | 'unsupported-message' // no mapping for the message type
  | 'validation'; // the bundle failed FHIR R4 validation

/** One thing a conversion wants a person to know. Never quotes message content (no PHI). */
export interface ConversionIssue {
  readonly severity: IssueSeverity;
  readonly code: IssueCode;
  readonly message: string;
  /** Where in the message, HL7 style: "PID-8", "OBX[3]-11", "PV1-3.4". */
  readonly location?: string;
  /** Code table id for unknown codes, e.g. "hl7-0001"; lets metrics count by table. */
  readonly table?: string;
}

export interface IssueSink {
  report(issue: ConversionIssue): void;
}

/**
 * One value read from a message path: a field repetition (level 0), a component (1) or a
 * subcomponent (2). Holds the raw, still-escaped text and splits lazily.
 */
export class V2Value {
  readonly raw: string;
  readonly level: 0 | 1 | 2;
  readonly delimiters: Delimiters;

  constructor(raw: string, level: 0 | 1 | 2, delimiters: Delimiters) {
    this.raw = raw;
    this.level = level;
    this.delimiters = delimiters;
  }

  /** The unescaped text of the whole value (components included, as sent). */
  get text(): string {
    return unescapeValue(this.raw, this.delimiters);
  }

  /** True when nothing was sent (empty, or only empty components). HL7 `""` (null) is not empty. */
  get isEmpty(): boolean {
    const d = this.delimiters;
    const raw = this.raw;
    // Delimiters are single characters (or '' when unused), so code units suffice.
    const c = d.component === '' ? -1 : d.component.charCodeAt(0);
    const s = d.subcomponent === '' ? -1 : d.subcomponent.charCodeAt(0);
    for (let i = 0; i < raw.length; i++) {
      const x = raw.charCodeAt(i);
      if (x !== c && x !== s) return false;
    }
    return true;
  }

  /** The n-th (1-based) component (of a field) or subcomponent (of a component). */
  part(n: number): V2Value {
    if (this.level === 2) return n === 1 ? this : new V2Value('', 2, this.delimiters);
    const sep = this.level === 0 ? this.delimiters.component : this.delimiters.subcomponent;
    let start = 0;
    for (let i = 1; i < n; i++) {
      const at = sep ? this.raw.indexOf(sep, start) : -1;
      if (at < 0) return new V2Value('', (this.level + 1) as 1 | 2, this.delimiters);
      start = at + 1;
    }
    const end = sep ? this.raw.indexOf(sep, start) : -1;
    return new V2Value(end < 0 ? this.raw.slice(start) : this.raw.slice(start, end), (this.level + 1) as 1 | 2, this.delimiters);
  }

  /** Unescaped text of component n (subcomponent m): the usual way converters read a value. */
  at(n: number, m?: number): string {
    const c = this.part(n);
    return (m === undefined ? c : c.part(m)).text;
  }
}

/** A per-site overlay (mappings/<set>/sites/<site>.yaml), fully defaulted. */
export interface SiteConfig {
  readonly name: string;
  /** IANA zone for v2 times without an offset; never the host's zone. */
  readonly timezone: string;
  /** Assigning authority (CX.4 / XCN.9 / EI.2 namespace or universal id) → identifier system. */
  readonly assigningAuthorities: Readonly<Record<string, { readonly system: string; readonly type?: string }>>;
  /** System for an authority not listed: "{name}" is replaced by the authority, or null for an issue and no system. */
  readonly unknownAuthoritySystem: string | null;
  /** Local v2 coding system names (CWE.3) → code system URI, on top of the standard registry. */
  readonly codeSystems: Readonly<Record<string, string>>;
  /** Local additions to code tables: table id → v2 code → FHIR code. */
  readonly tableAdditions: Readonly<Record<string, Readonly<Record<string, string>>>>;
}

/** How a code table answered: a FHIR code, or the fallback chosen for an unknown code. */
export interface TableHit {
  readonly code: string;
  readonly system?: string;
  readonly display?: string;
  /** True when the v2 code was not in the table and the table's `unmapped` rule decided. */
  readonly unmapped: boolean;
}

export interface TableRegistry {
  /**
   * Looks a v2 code up; reports an unknown-code issue itself when the code is not in the table
   * (`keptAs` names where the caller keeps such a code, for that issue's text).
   */
  lookup(table: string, code: string, ctx: ConverterContext, opts?: { readonly keptAs?: string }): TableHit | undefined;
  has(table: string): boolean;
}

export interface CodeSystemRegistry {
  /** v2 coding system name (CWE.3, e.g. "LN", "HL70001", "SCT") → FHIR system URI. */
  resolve(name: string, ctx: ConverterContext): string | undefined;
}

export interface ConverterContext {
  readonly site: SiteConfig;
  readonly tables: TableRegistry;
  readonly codeSystems: CodeSystemRegistry;
  readonly issues: IssueSink;
  /** Location of the value being converted, for issues ("PID-3[2]"). */
  readonly location: string;
}

/** Arguments after evaluation: literals stay strings; paths become the value they point at. */
export type ConverterArg = string | V2Value | undefined;

/**
 * A datatype converter: one v2 value in, one FHIR JSON value out (or undefined for nothing).
 * Pure apart from reporting issues; never throws on bad input (reports invalid-value instead).
 */
export type Converter = (value: V2Value, args: Readonly<Record<string, ConverterArg>>, ctx: ConverterContext) => unknown;
