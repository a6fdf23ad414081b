/**
 * A small ConverterContext for converter tests: a site in America/Chicago, the real code system
 * registry, a few hand-written code tables, and the issues collected for assertions.
 */
import { createCodeSystemRegistry } from '../../../src/mapping/code-systems.js';
import { DEFAULT_DELIMITERS } from '../../../src/hl7/types.js';
import {
  type ConversionIssue,
  type ConverterArg,
  type ConverterContext,
  type SiteConfig,
  type TableHit,
  type TableRegistry,
  V2Value,
} from '../../../src/mapping/types.js';

export const SITE: SiteConfig = {
  name: 'st-marys',
  timezone: 'America/Chicago',
  assigningAuthorities: {
    STM_MRN: { system: 'https://stmarys.example.org/fhir/sid/mrn', type: 'MR' },
    '2.16.840.1.113883.3.999.1': { system: 'urn:oid:2.16.840.1.113883.3.999.1' },
  },
  unknownAuthoritySystem: 'urn:x-v2-aa:st-marys:{name}',
  codeSystems: { '99STM': 'https://stmarys.example.org/fhir/CodeSystem/orders' },
  tableAdditions: {},
};

/** Tables as a mapping set would load them: v2 code → FHIR hit; unknown codes are reported. */
const TABLES: Readonly<Record<string, Readonly<Record<string, TableHit>>>> = {
  'hl7-0001': {
    F: { code: 'female', system: 'http://hl7.org/fhir/administrative-gender', display: 'Female', unmapped: false },
    M: { code: 'male', system: 'http://hl7.org/fhir/administrative-gender', display: 'Male', unmapped: false },
  },
  'hl7-0203': {
    MR: { code: 'MR', system: 'http://terminology.hl7.org/CodeSystem/v2-0203', display: 'Medical record number', unmapped: false },
    NPI: { code: 'NPI', system: 'http://terminology.hl7.org/CodeSystem/v2-0203', unmapped: false },
    XX: { code: 'XX', system: 'http://terminology.hl7.org/CodeSystem/v2-0203', unmapped: false },
  },
};

export class FakeTables implements TableRegistry {
  has(table: string): boolean {
    return Object.hasOwn(TABLES, table);
  }
  lookup(table: string, code: string, ctx: ConverterContext): TableHit | undefined {
    const hit = TABLES[table]?.[code];
    if (hit === undefined) ctx.issues.report({ severity: 'warning', code: 'unknown-code', message: 'not in table', location: ctx.location, table });
    return hit;
  }
}

export interface TestContext extends ConverterContext {
  readonly reported: ConversionIssue[];
}

export function context(site: Partial<SiteConfig> = {}, location = 'PID-3'): TestContext {
  const fullSite: SiteConfig = { ...SITE, ...site };
  const reported: ConversionIssue[] = [];
  return {
    site: fullSite,
    tables: new FakeTables(),
    codeSystems: createCodeSystemRegistry(fullSite),
    issues: { report: (i) => reported.push(i) },
    location,
    reported,
  };
}

/** A field repetition as the evaluator hands it to a converter. */
export function field(raw: string): V2Value {
  return new V2Value(raw, 0, DEFAULT_DELIMITERS);
}

export function args(a: Record<string, string | V2Value> = {}): Readonly<Record<string, ConverterArg>> {
  return a;
}

/** The issue codes reported, in order: what most issue assertions need. */
export function codes(ctx: TestContext): string[] {
  return ctx.reported.map((i) => i.code);
}
