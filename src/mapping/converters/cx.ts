/**
 * CX → Identifier (IG CX[Identifier]). The assigning authority becomes the system through the
 * site overlay (see resolveAuthority); CX.5 becomes the type, CX.7/CX.8 the period.
 */
import type { CodeableConcept, Identifier } from '@medplum/fhirtypes';
import type { ConverterContext, V2Value } from '../types.js';
import { type Args, argText, comp, compact, report, within } from './context.js';
import { assignerOf, authorityAt, resolveAuthority } from './hd.js';
import { toDateTime } from './ts.js';

export const V2_0203 = 'http://terminology.hl7.org/CodeSystem/v2-0203';
const IDENTIFIER_USES: ReadonlySet<string> = new Set(['usual', 'official', 'temp', 'secondary', 'old']);

function isIdentifierUse(s: string | undefined): s is NonNullable<Identifier['use']> {
  return s !== undefined && IDENTIFIER_USES.has(s);
}

/** Identifier type (table 0203) as a CodeableConcept, through the loaded table when there is one. */
export function identifierType(code: string | undefined, ctx: ConverterContext, where: string): CodeableConcept | undefined {
  if (code === undefined) return undefined;
  if (ctx.tables.has('hl7-0203')) {
    const hit = ctx.tables.lookup('hl7-0203', code, { ...ctx, location: where }, { keptAs: 'the identifier type\'s text' });
    if (hit !== undefined) return { coding: [compact({ system: hit.system ?? V2_0203, code: hit.code, display: hit.display })] };
    // A local type ("MRN", "NHSNMBR") is no 0203 code, but it still says what the identifier is:
    // kept as text (the binding is extensible), and written back as CX.5 by the outbound cx.
    const text = code.trim();
    return text === '' ? undefined : { text };
  }
  return { coding: [{ system: V2_0203, code }] };
}

export interface IdentifierParts {
  readonly value: string | undefined;
  readonly typeCode: string | undefined;
  readonly start?: string | undefined;
  readonly end?: string | undefined;
  readonly checkDigit?: string | undefined;
}

/** Builds an Identifier from parts shared by CX, XCN and XON; authority already resolved. */
export function buildIdentifier(
  parts: IdentifierParts,
  authority: ReturnType<typeof resolveAuthority>,
  ctx: ConverterContext,
  typeWhere: string,
  use?: Identifier['use'],
): Identifier {
  const type = identifierType(parts.typeCode ?? authority.type, ctx, typeWhere);
  const period = parts.start !== undefined || parts.end !== undefined ? compact({ start: parts.start, end: parts.end }) : undefined;
  return compact<Identifier>({
    // CX.3 (check digit scheme) is left out: its IG extension (namingsystem-checkDigit) is
    // defined for NamingSystem, so a validator rejects it on an Identifier.
    extension:
      parts.checkDigit === undefined
        ? undefined
        : [{ url: 'http://hl7.org/fhir/StructureDefinition/identifier-checkDigit', valueString: parts.checkDigit }],
    use,
    type,
    system: authority.system,
    value: parts.value,
    period,
    assigner: assignerOf(authority),
  });
}

/**
 * args: `type` keeps only identifiers whose CX.5 equals it (e.g. `PID-3[*] | cx(type: MR)`);
 * `use` sets Identifier.use (usual, official, temp, secondary, old).
 */
export function cx(value: V2Value, args: Args, ctx: ConverterContext): Identifier | undefined {
  if (value.isEmpty) return undefined;
  const typeCode = comp(value, 5);
  const wanted = argText(args, 'type');
  if (wanted !== undefined && typeCode !== wanted) return undefined;
  const id = comp(value, 1);
  if (id === undefined) {
    report(ctx, 'warning', 'invalid-value', 'identifier sent without an ID number (CX.1); left out', within(ctx, 1));
    return undefined;
  }
  const use = argText(args, 'use');
  if (use !== undefined && !isIdentifierUse(use)) {
    report(ctx, 'error', 'invalid-value', 'cx use argument is not an Identifier.use code; fix the mapping');
  }
  const authority = resolveAuthority(authorityAt(value.part(4), 1), ctx, within(ctx, 4));
  return buildIdentifier(
    {
      value: id,
      typeCode,
      checkDigit: comp(value, 2),
      start: toDateTime(value.part(7).at(1), ctx, within(ctx, 7)),
      end: toDateTime(value.part(8).at(1), ctx, within(ctx, 8)),
    },
    authority,
    ctx,
    within(ctx, 5),
    isIdentifierUse(use) ? use : undefined,
  );
}
