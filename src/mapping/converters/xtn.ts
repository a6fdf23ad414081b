/**
 * XTN → ContactPoint (IG XTN[ContactPoint]).
 */
import type { ContactPoint, Extension } from '@medplum/fhirtypes';
import type { ConverterContext, V2Value } from '../types.js';
import { type Args, argText, comp, compact, report, within } from './context.js';
import { toDateTime } from './ts.js';
import { mapCode, TELECOM_SYSTEM, TELECOM_USE } from './vocabulary.js';

const CONTACT_POINT_USES: ReadonlySet<string> = new Set(['home', 'work', 'temp', 'old', 'mobile']);
const EMAIL_TYPES: ReadonlySet<string> = new Set(['Internet', 'X.400']);

/** The number the IG composes from XTN.5-8: "+<country> <area> <local> X<ext>". */
function composedNumber(country?: string, area?: string, local?: string, ext?: string): string | undefined {
  if (local === undefined) return undefined;
  let s = local;
  if (area !== undefined) s = `${area} ${s}`;
  if (country !== undefined) s = `+${country} ${s}`;
  if (ext !== undefined) s += ` X${ext}`;
  return s;
}

/**
 * args: `use` (home, work, mobile, temp, old) when XTN.2 sends none, e.g. PID-14 is the
 * business number even when the sender leaves XTN.2 empty.
 */
export function xtn(value: V2Value, args: Args, ctx: ConverterContext): ContactPoint | undefined {
  if (value.isEmpty) return undefined;
  const equipment = comp(value, 3);
  const address = comp(value, 4);
  const country = comp(value, 5);
  const area = comp(value, 6);
  const local = comp(value, 7);
  const ext = comp(value, 8);
  const email = equipment !== undefined ? EMAIL_TYPES.has(equipment) : address !== undefined;

  let text: string | undefined;
  if (email) text = address;
  else text = comp(value, 12) ?? composedNumber(country, area, local, ext) ?? comp(value, 1);
  if (text === undefined) return undefined;

  let system: string | undefined;
  if (equipment !== undefined) system = mapCode(ctx, 'hl7-0202', equipment, TELECOM_SYSTEM, within(ctx, 3));
  else if (email) system = 'email';
  // Departure from the IG (data-absent "unknown" when XTN.3 and XTN.4 are empty): before v2.5
  // most senders put a bare number in XTN.1 with no equipment type. FHIR requires a system
  // with a value (cpt-2), and a number a receiver cannot tell is a phone is of no use.
  else system = /^[+()\d\s./-]*\d[+()\d\s./-]*(\s*(x|X|ext\.?)\s*\d+)?$/.test(text) ? 'phone' : text.includes('@') ? 'email' : 'other';

  const useCode = comp(value, 2);
  let use = useCode === undefined ? undefined : mapCode(ctx, 'hl7-0201', useCode, TELECOM_USE, within(ctx, 2));
  // CP (cellular phone): the sheet gives it "mobile" as a use; a work phone stays "work".
  if (equipment === 'CP' && use !== 'work') use = 'mobile';
  if (use === undefined && useCode === undefined) {
    const fallback = argText(args, 'use', 0);
    if (fallback !== undefined && CONTACT_POINT_USES.has(fallback)) use = fallback;
    else if (fallback !== undefined) report(ctx, 'error', 'invalid-value', 'xtn use argument is not a ContactPoint.use code; fix the mapping');
  }

  const extension: Extension[] = [];
  if (!email) {
    if (country !== undefined) extension.push({ url: 'http://hl7.org/fhir/StructureDefinition/contactpoint-country', valueString: country });
    if (area !== undefined) extension.push({ url: 'http://hl7.org/fhir/StructureDefinition/contactpoint-area', valueString: area });
    if (local !== undefined) extension.push({ url: 'http://hl7.org/fhir/StructureDefinition/contactpoint-local', valueString: local });
    if (ext !== undefined) extension.push({ url: 'http://hl7.org/fhir/StructureDefinition/contactpoint-extension', valueString: ext });
  }
  const start = toDateTime(value.part(13).at(1), ctx, within(ctx, 13));
  const end = toDateTime(value.part(14).at(1), ctx, within(ctx, 14));
  const rankText = comp(value, 18);
  const rank = rankText !== undefined && /^\d+$/.test(rankText) && Number(rankText) > 0 ? Number(rankText) : undefined;
  return compact<ContactPoint>({
    extension: extension.length > 0 ? extension : undefined,
    system: system as ContactPoint['system'],
    value: text,
    use: use as ContactPoint['use'],
    rank,
    period: start !== undefined || end !== undefined ? compact({ start, end }) : undefined,
  });
}
