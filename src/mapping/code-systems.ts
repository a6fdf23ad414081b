/**
 * v2 coding system names (CWE.3/.6/.12, the names of HL7 table 0396) → FHIR code system URIs.
 * The IG has no CodingSystem concept map among its CSVs (ig-mappings/codesystems/ holds value
 * maps only), so the standard names are listed here with the URIs the FHIR terminology
 * registry gives them. The site overlay is asked first, so a site can repoint any name.
 */
import type { CodeSystemRegistry, ConverterContext, SiteConfig } from './types.js';
import { quoted } from './converters/context.js';

const LOINC = 'http://loinc.org';
const SNOMED = 'http://snomed.info/sct';
const ICD10CM = 'http://hl7.org/fhir/sid/icd-10-cm';
const ICD9CM = 'http://hl7.org/fhir/sid/icd-9-cm';
const CPT = 'http://www.ama-assn.org/go/cpt';
const RXNORM = 'http://www.nlm.nih.gov/research/umls/rxnorm';

export const STANDARD_CODE_SYSTEMS: Readonly<Record<string, string>> = Object.freeze({
  LN: LOINC,
  LOINC: LOINC,
  SCT: SNOMED,
  SNM: SNOMED,
  SNM3: SNOMED,
  SNOMED: SNOMED,
  SNOMEDCT: SNOMED,
  // Table 0396 gives I10 to WHO ICD-10, but US feeds send I10 for ICD-10-CM diagnoses.
  I10: ICD10CM,
  I10C: ICD10CM,
  ICD10CM: ICD10CM,
  I10P: 'http://www.cms.gov/Medicare/Coding/ICD10',
  ICD10PCS: 'http://www.cms.gov/Medicare/Coding/ICD10',
  I9: ICD9CM,
  I9C: ICD9CM,
  I9CDX: ICD9CM,
  ICD9CM: ICD9CM,
  ICD10: 'http://hl7.org/fhir/sid/icd-10',
  CPT: CPT,
  C4: CPT,
  CPT4: CPT,
  HCPCS: 'http://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets',
  HCPT: 'http://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets',
  RXNORM: RXNORM,
  RXN: RXNORM,
  NDC: 'http://hl7.org/fhir/sid/ndc',
  CVX: 'http://hl7.org/fhir/sid/cvx',
  MVX: 'http://hl7.org/fhir/sid/mvx',
  // NCI Thesaurus: routes of administration in immunization messages (CDC IIS IG).
  NCIT: 'http://ncicb.nci.nih.gov/xml/owl/EVS/Thesaurus.owl',
  UCUM: 'http://unitsofmeasure.org',
  NPI: 'http://hl7.org/fhir/sid/us-npi',
  NUCC: 'http://nucc.org/provider-taxonomy',
  CDCREC: 'urn:oid:2.16.840.1.113883.6.238',
});

/** HL70001, HL7-0001, HL7001 (some senders drop a digit): all HL7-defined tables. */
const HL7_TABLE = /^HL7-?(\d{3,4})$/;

/**
 * Local coding systems: "99zzz" and "L" are the sender's own codes (table 0396). Their URI can
 * only come from the site; the fallback keeps the coding distinct per site and per name.
 */
function isLocalName(name: string): boolean {
  return name === 'L' || /^99[A-Za-z0-9]+$/.test(name);
}

export function fallbackCodeSystem(site: SiteConfig, name: string): string {
  return `urn:x-v2-cs:${encodeURIComponent(site.name)}:${encodeURIComponent(name)}`;
}

export function createCodeSystemRegistry(site: SiteConfig): CodeSystemRegistry {
  const known = new Map<string, string>();
  return {
    resolve(name: string, ctx: ConverterContext): string | undefined {
      const trimmed = name.trim();
      // A code without a coding system name is ordinary in v2 (local tables): nothing to resolve.
      if (trimmed === '') return undefined;
      const cached = known.get(trimmed);
      if (cached !== undefined) return cached;
      const found = lookup(site, trimmed);
      if (found !== undefined) {
        known.set(trimmed, found);
        return found;
      }
      // Not cached: each message that sends the name gets its own issue, so dashboards count it.
      ctx.issues.report({
        severity: 'warning',
        code: 'unknown-code-system',
        message: `${isLocalName(trimmed) ? 'local coding system' : 'coding system name'} ${quoted(trimmed)} has no URI${
          isLocalName(trimmed) ? '' : ' (not a standard v2 name)'
        }; the coding keeps a site-scoped urn:x-v2-cs system. Map it under codeSystems in site "${site.name}"`,
        location: ctx.location,
      });
      return fallbackCodeSystem(site, trimmed);
    },
  };
}

function lookup(site: SiteConfig, name: string): string | undefined {
  if (Object.hasOwn(site.codeSystems, name)) return site.codeSystems[name];
  const upper = name.toUpperCase();
  const standard = Object.hasOwn(STANDARD_CODE_SYSTEMS, upper) ? STANDARD_CODE_SYSTEMS[upper] : undefined;
  if (standard !== undefined) return standard;
  const table = HL7_TABLE.exec(upper);
  if (table?.[1] !== undefined) return `http://terminology.hl7.org/CodeSystem/v2-${table[1].padStart(4, '0')}`;
  return undefined;
}
