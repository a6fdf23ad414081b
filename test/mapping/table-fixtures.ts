/** Shared by the table tests here and the table generator's test in test-corpus/. */

/** The tables issue 3 names, by the id a mapping uses. */
export const REQUIRED_TABLES: readonly string[] = [
  'hl7-0001', 'hl7-0002', 'hl7-0004-class', 'hl7-0004-status', 'hl7-0005', 'hl7-0006', 'hl7-0007',
  'hl7-0063', 'hl7-0078', 'hl7-0085', 'hl7-0119', 'hl7-0123', 'hl7-0189', 'hl7-0203', 'hl7-0301',
];

/** A hand-written sex table, as an analyst would edit it (no IG "A" row). */
export const SEX_TABLE = `
id: hl7-0001
title: Administrative Sex
source: { table: HL70001, system: http://terminology.hl7.org/CodeSystem/v2-0001 }
target: { system: http://hl7.org/fhir/administrative-gender }
unmapped: { use: unknown, issue: warning }
map:
  F: { code: female, display: Female }
  M: male
  U: { code: unknown, display: Unknown }
`;
