/**
 * Shapes of the outbound (FHIR → HL7 v2) mapping stage: a compiled mapping file, the values its
 * expressions produce, and the v2 value tree the writer escapes and joins.
 */
/** Where a rule is written, for errors and issues. */
export interface SourcePos {
  readonly file: string;
  readonly line: number;
  readonly col: number;
}

/**
 * One field repetition as components, each a list of subcomponents, all unescaped text. The
 * writer escapes each leaf, so a "^" inside a family name can never become a component break.
 */
export type V2Rep = string[][];

/** One node a FHIR path reached: the JSON value, and for a choice element (value[x]) its type. */
export interface Item {
  readonly value: unknown;
  /** "Quantity" for valueQuantity, "DateTime" for effectiveDateTime…; absent for ordinary elements. */
  readonly choice?: string;
}

export type OutExpr =
  | { readonly kind: 'literal'; readonly value: string }
  | { readonly kind: 'var'; readonly name: string }
  | { readonly kind: 'path'; readonly root: PathRoot; readonly steps: readonly Step[] }
  | { readonly kind: 'convert'; readonly input: OutExpr; readonly converter: string; readonly args: readonly string[] };

export type PathRoot =
  | { readonly kind: 'context' } // relative: the resource (or item) the segment iterates over
  | { readonly kind: 'focus' } // %focus: the resource the message is about
  | { readonly kind: 'start' } // %context: the item the expression started from, which where() does not move
  | { readonly kind: 'type'; readonly type: string }; // every resource of that type in the Bundle

export type Step =
  | { readonly kind: 'field'; readonly name: string }
  | { readonly kind: 'index'; readonly index: number }
  | { readonly kind: 'resolve' }
  | { readonly kind: 'first' }
  /** FHIRPath distinct(): each item once (equal as a whole), in first-seen order. */
  | { readonly kind: 'distinct' }
  /** The resources of `type` in the Bundle whose reference at `path` points at the current item. */
  | { readonly kind: 'referencedBy'; readonly type: string; readonly path: readonly string[] }
  | { readonly kind: 'where'; readonly test: OutCondition };

export type OutCondition =
  | { readonly kind: 'exists'; readonly expr: OutExpr }
  | { readonly kind: 'compare'; readonly expr: OutExpr; readonly op: '=' | '!='; readonly value: string }
  /** Two values compared whole (FHIRPath equality of collections): `code = %context.code`. */
  | { readonly kind: 'equal'; readonly left: OutExpr; readonly op: '=' | '!='; readonly right: OutExpr }
  | { readonly kind: 'not'; readonly inner: OutCondition }
  | { readonly kind: 'and' | 'or'; readonly left: OutCondition; readonly right: OutCondition };

/** Where a field rule writes: PID-5 (field), PID-5.1 (component), PID-5.1.2 (subcomponent). */
export interface FieldTarget {
  readonly field: number;
  readonly component?: number;
  readonly subcomponent?: number;
}

export interface FieldRule {
  readonly target: FieldTarget;
  /** Tried in order; the first that yields a value wins (a YAML list is a fallback chain). */
  readonly exprs: readonly OutExpr[];
  readonly source: SourcePos;
  readonly key: string;
}

export interface SegmentRule {
  readonly segment: string;
  /** Sets the context resource(s) for this segment and its children; one segment per item. */
  readonly forEach?: OutExpr;
  readonly when?: OutCondition;
  readonly fields: readonly FieldRule[];
  readonly children: readonly SegmentRule[];
  readonly source: SourcePos;
}

export interface OutboundMapping {
  readonly id: string;
  readonly file: string;
  readonly description?: string;
  /** The resource type the message is about (%focus): the first of that type in the Bundle. */
  readonly focus: string;
  /** When this mapping applies to a Bundle that has a focus; absent = always. */
  readonly when?: OutCondition;
  /** MSH-9 as written, e.g. "ORU^R01^ORU_R01". */
  readonly messageType: string;
  /** MSH-12, e.g. "2.5.1". */
  readonly version: string;
  readonly segments: readonly SegmentRule[];
}

/** Something an outbound conversion wants a person to know; never quotes values (no PHI). */
export interface OutboundIssue {
  readonly severity: 'error' | 'warning' | 'information';
  readonly code: 'unknown-code' | 'unknown-code-system' | 'unsupported-value' | 'unresolved-reference' | 'no-mapping';
  readonly message: string;
  /** Where in the v2 output, e.g. "OBX[2]-5". */
  readonly location?: string;
}
