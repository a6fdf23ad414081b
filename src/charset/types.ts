/** How the bytes of one message became text: which rule decided, and what was repaired. */

/** The rule that chose the charset: a BOM, MSH-18, valid UTF-8 or the fallback, first match wins (detect.ts). */
export type CharsetSource = 'bom' | 'msh18' | 'utf8-valid' | 'fallback';

export interface CharsetDecision {
  readonly source: CharsetSource;
  /** iconv-lite name of the charset used to decode, e.g. "utf-8", "windows-1252", "iso-8859-1". */
  readonly charset: string;
  /** MSH-18 exactly as sent (repeats kept), or "" when absent. */
  readonly declared: string;
}

export type RepairKind =
  | 'double-encoded-utf8'
  | 'declared-charset-contradicted'
  | 'unknown-declared-charset'
  | 'nul-bytes'
  | 'lf-terminators'
  | 'crlf-terminators'
  | 'junk-before-msh'
  | 'bom-removed';

/** One repair applied to the text. `detail` must never quote message content (no PHI). */
export interface Repair {
  readonly kind: RepairKind;
  readonly detail: string;
  readonly count: number;
}

export interface DecodedText {
  readonly ok: true;
  readonly text: string;
  readonly decision: CharsetDecision;
  readonly repairs: readonly Repair[];
}

export interface CharsetFailure {
  readonly ok: false;
  readonly category: 'charset';
  readonly message: string;
  readonly decision: CharsetDecision;
}

export type DecodeResult = DecodedText | CharsetFailure;

/** Channel setting: a charset to fall back to, or "reject" to refuse undeclared non-UTF-8 bytes. */
export interface CharsetOptions {
  readonly fallback: string;
}
