/** A mapping file after loading: parsed expressions, resolved structure, ready to evaluate. */
import type { Expr } from './expression.js';
import type { GroupDef } from './structure.js';

export type Rule =
  | { readonly kind: 'expr'; readonly expr: Expr; readonly source: string; readonly when?: Expr }
  | { readonly kind: 'const'; readonly value: unknown; readonly when?: Expr }
  | { readonly kind: 'ref'; readonly name: string; readonly many: boolean; readonly when?: Expr }
  | { readonly kind: 'first'; readonly rules: readonly Rule[]; readonly when?: Expr }
  | { readonly kind: 'build'; readonly forEach?: Expr; readonly map: MapNode; readonly when?: Expr }
  | { readonly kind: 'list'; readonly items: readonly Rule[] }
  | { readonly kind: 'object'; readonly map: MapNode };

/** Where an analyst wrote something (1-based), so a check after loading can point at it. */
export interface SourcePos {
  readonly file: string;
  readonly line: number;
  readonly col: number;
}

export interface MapEntry {
  /** FHIR element path below the object being built, split at dots ("period.start"). */
  readonly path: readonly string[];
  /** The key ends in "[x]": the value is an object such as {valueQuantity: …} merged in. */
  readonly choice: boolean;
  readonly rule: Rule;
  /** The key as written (in common.yaml for an entry a resource takes from a template). */
  readonly source?: SourcePos;
}

export type MapNode = readonly MapEntry[];

export type RequestMode = 'conditional' | 'put' | 'create-if-absent';

export interface IdentityDef {
  /** Yields Identifier(s); the first with system and value is the business key. */
  readonly identifier?: Expr;
  /** Yields the texts joined with "|" into the business key. */
  readonly key?: readonly Expr[];
  readonly request: RequestMode;
}

export interface ResourceDef {
  readonly name: string;
  readonly type: string;
  /** Build one instance only when this segment or group is present (in scope). */
  readonly from?: string;
  /** Build one instance per occurrence of this segment or group in scope. */
  readonly forEach?: string;
  readonly when?: Expr;
  readonly identity: IdentityDef;
  readonly map: MapNode;
  readonly children: readonly ResourceDef[];
  /** Elements FHIR requires that this message may not supply: a missing one is reported. */
  readonly required: readonly string[];
  /** The resource as written (its `- name: …` item). */
  readonly source?: SourcePos;
  /** The template it `use`s, if any. */
  readonly template?: string;
}

export interface MessageMapping {
  readonly id: string;
  readonly file: string;
  /** Message type patterns (MSH-9.1^MSH-9.2, "*" allowed), e.g. "ADT^A01". */
  readonly messages: readonly string[];
  readonly groups: ReadonlyMap<string, GroupDef>;
  readonly resources: readonly ResourceDef[];
  /** Segments not reported as unmapped even if no rule reads them. */
  readonly ignore: readonly string[];
}
