#!/usr/bin/env node
// Seeds mappings/default/tables/*.yaml from the HL7 v2-to-FHIR IG vocabulary sheets
// (../shared/ig-mappings/codesystems/*.csv). The YAML files are then committed and belong to the
// analysts: by default this script only writes tables that do not exist yet, so re-running it
// never throws away a local edit. `--force` rewrites them all (review the diff before committing);
// `--ig DIR` and `--out DIR` point elsewhere.
//
// The sheets are spreadsheets exported as CSV, and their columns drift from sheet to sheet (an
// unnamed column between the FHIR code and its display, no Comments column, three condition
// columns or two), so columns are found by their header names, never by position.
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const option = (name, fallback) => {
  const i = args.indexOf(name);
  return i >= 0 && args[i + 1] !== undefined ? resolve(args[i + 1]) : fallback;
};
const force = args.includes('--force');
const igDir = option('--ig', resolve(root, '../shared/ig-mappings/codesystems'));
const outDir = option('--out', join(root, 'mappings/default/tables'));

/**
 * Which sheets become which tables, and how each treats a code it does not know. The rule for
 * unknown codes follows the FHIR binding of the element the table feeds:
 * - a required binding on a 1..1 element needs *some* valid code, so a fixed fallback (unknown);
 * - a required binding on an optional element is better left out than guessed (none);
 * - CodeableConcept targets with extensible/preferred bindings keep the sender's own coding
 *   through the cwe converter anyway, so the table adds nothing for an unknown code (none).
 * `issue` is the severity of the unknown-code issue: warning when the output loses or replaces
 * meaning, information when the sender's code is kept beside it.
 */
const TABLES = [
  {
    id: 'hl7-0001', sheet: 'AdministrativeSex', title: 'Administrative Sex → AdministrativeGender',
    element: 'Patient.gender, RelatedPerson.gender (PID-8, NK1-15)', binding: 'required',
    unmapped: { use: 'unknown', issue: 'warning' },
    why: 'gender has a required binding; "unknown" is the honest answer for a sex code the table does not know.',
  },
  {
    id: 'hl7-0002', sheet: 'MaritalStatus', title: 'Marital Status → v3 MaritalStatus',
    element: 'Patient.maritalStatus (PID-16)', binding: 'extensible',
    unmapped: { use: 'none', issue: 'information' },
    why: 'a CodeableConcept: the sender\'s own coding is kept by the cwe converter, so an unknown code adds no mapped coding.',
  },
  {
    id: 'hl7-0003-encounter-status', sheet: 'Event[EncounterStatus]', title: 'Event type (MSH-9.2) → Encounter.status',
    element: 'Encounter.status (MSH-9.2)', binding: 'required',
    unmapped: { use: 'unknown', issue: 'information' },
    why: 'Encounter.status is 1..1 with a required binding; for an event the sheet does not list, "unknown" is what the IG itself uses for A08 (the message does not say).',
  },
  {
    id: 'hl7-0004-class', sheet: 'PatientClass[EncounterClass]', title: 'Patient Class → Encounter.class (v3 ActCode)',
    element: 'Encounter.class (PV1-2)', binding: 'extensible',
    target: 'http://terminology.hl7.org/CodeSystem/v3-ActCode',
    unmapped: { use: 'passthrough', issue: 'warning' },
    why: 'Encounter.class is 1..1, so it cannot be left out; the IG itself keeps R, B, C, N and U as v2-0004 codes, and an unknown local class is kept the same way.',
  },
  {
    id: 'hl7-0004-status', sheet: 'PatientClass[EncounterStatus]', title: 'Patient Class → Encounter.status (when PV1-45 is empty)',
    element: 'Encounter.status (PV1-2, only when PV1-45 discharge date is empty)', binding: 'required',
    unmapped: { use: 'unknown', issue: 'information' },
    why: 'Encounter.status is 1..1 with a required binding; the sheet itself sends U to "unknown".',
  },
  {
    id: 'hl7-0005', sheet: null, title: 'Race → CDC Race & Ethnicity (OMB categories)',
    element: 'US Core race extension ombCategory (PID-10)', binding: 'required',
    source: { table: 'HL70005', system: 'http://terminology.hl7.org/CodeSystem/v3-Race' },
    target: 'urn:oid:2.16.840.1.113883.6.238',
    unmapped: { use: 'none', issue: 'information' },
    why: 'only the five OMB categories (and "other race") have a place in ombCategory; any other code stays in the sender\'s coding, which the cwe converter keeps.',
    note: [
      'The IG has no sheet for Race yet (its Code System inventory lists it as "Under Construction").',
      'HL7 table 0005 is user-defined; v2.5.1 onwards suggests the CDC Race & Ethnicity codes, which',
      'US Core binds with the urn:oid system below, so those codes map to themselves.',
    ],
    rows: [
      ['1002-5', 'American Indian or Alaska Native'],
      ['2028-9', 'Asian'],
      ['2054-5', 'Black or African American'],
      ['2076-8', 'Native Hawaiian or Other Pacific Islander'],
      ['2106-3', 'White'],
      ['2131-1', 'Other Race'],
    ].map(([code, text]) => ({ v2: code, text, code, display: text })),
  },
  {
    id: 'hl7-0006', sheet: 'Religion', title: 'Religion → v3 ReligiousAffiliation',
    element: 'patient-religion extension (PID-17, NK1-25)', binding: 'extensible',
    unmapped: { use: 'none', issue: 'information' },
    why: 'a CodeableConcept: the sender\'s own coding is kept by the cwe converter.',
  },
  {
    id: 'hl7-0007', sheet: 'AdmissionType', title: 'Admission Type → Encounter.type',
    element: 'Encounter.type (PV1-4)', binding: 'example',
    unmapped: { use: 'none', issue: 'information' },
    why: 'a CodeableConcept with an example binding: the sender\'s coding is kept by the cwe converter.',
  },
  {
    id: 'hl7-0038', sheet: 'OrderStatus', title: 'Order Status (ORC-5) → ServiceRequest.status',
    element: 'ServiceRequest.status (ORC-5)', binding: 'required',
    unmapped: { use: 'unknown', issue: 'warning' },
    why: 'ServiceRequest.status is 1..1 with a required binding.',
  },
  {
    id: 'hl7-0052', sheet: 'DiagnosisType', title: 'Diagnosis Type → Encounter.diagnosis.use',
    element: 'Encounter.diagnosis.use (DG1-6)', binding: 'preferred',
    unmapped: { use: 'none', issue: 'information' },
    why: 'a CodeableConcept with a preferred binding: the sender\'s coding is kept by the cwe converter.',
  },
  {
    id: 'hl7-0063', sheet: 'Relationship', title: 'Relationship → v3 RoleCode',
    element: 'RelatedPerson.relationship, Patient.contact.relationship (NK1-3, IN1-17)', binding: 'preferred',
    unmapped: { use: 'none', issue: 'information' },
    why: 'a CodeableConcept: the sender\'s own coding is kept by the cwe converter.',
  },
  {
    id: 'hl7-0074', sheet: 'DiagnosticServiceSectionID', title: 'Diagnostic Service Section → DiagnosticReport.category',
    element: 'DiagnosticReport.category (OBR-24)', binding: 'example',
    unmapped: { use: 'none', issue: 'information' },
    why: 'a CodeableConcept with an example binding: the sender\'s coding is kept by the cwe converter.',
  },
  {
    id: 'hl7-0078', sheet: 'InterpretationCodes', title: 'Abnormal Flags → v3 ObservationInterpretation',
    element: 'Observation.interpretation (OBX-8)', binding: 'extensible',
    unmapped: { use: 'none', issue: 'information' },
    why: 'a CodeableConcept: the inactive v3 codes the IG leaves unmapped (AC, HM, OBX, QCF, TOX) stay in the sender\'s coding.',
  },
  {
    id: 'hl7-0085', sheet: 'ObservationResultStatusCodesInterpretation', title: 'Observation Result Status → Observation.status',
    element: 'Observation.status (OBX-11)', binding: 'required',
    unmapped: { use: 'unknown', issue: 'warning' },
    why: 'Observation.status is 1..1 with a required binding; B, I, N, O, R, S, U and V have no FHIR code in the IG.',
  },
  {
    id: 'hl7-0119', sheet: 'OrderControlCode[ServiceRequest.status]', title: 'Order Control → ServiceRequest.status (when ORC-5 is empty)',
    element: 'ServiceRequest.status (ORC-1, only when ORC-5 is empty; intent is always "order" in the IG)', binding: 'required',
    unmapped: { use: 'unknown', issue: 'warning' },
    why: 'ServiceRequest.status is 1..1 with a required binding; most order control codes are actions, not states, and have no FHIR code in the IG.',
  },
  {
    id: 'hl7-0123', sheet: 'ResultStatus[Non-Queries]', title: 'Result Status → DiagnosticReport.status',
    element: 'DiagnosticReport.status (OBR-25)', binding: 'required',
    unmapped: { use: 'unknown', issue: 'warning' },
    why: 'DiagnosticReport.status is 1..1 with a required binding.',
  },
  {
    id: 'hl7-0127-category', sheet: 'AllergenType[AllergyIntoleranceCategory]', title: 'Allergen Type → AllergyIntolerance.category',
    element: 'AllergyIntolerance.category (AL1-2)', binding: 'required',
    unmapped: { use: 'none', issue: 'information' },
    why: 'category is optional: better absent than guessed; the original code belongs in the category extension.',
  },
  {
    id: 'hl7-0127-type', sheet: 'AllergyType', title: 'Allergen Type → AllergyIntolerance.type',
    element: 'AllergyIntolerance.type (AL1-2)', binding: 'required',
    unmapped: { use: 'none', issue: 'information' },
    why: 'type is optional: better absent than guessed.',
  },
  {
    id: 'hl7-0128-criticality', sheet: 'AllergySeverity[AllergyIntolerance.criticality]', title: 'Allergy Severity → AllergyIntolerance.criticality',
    element: 'AllergyIntolerance.criticality (AL1-4)', binding: 'required',
    unmapped: { use: 'none', issue: 'information' },
    why: 'criticality is optional; "unable-to-assess" would claim an assessment the sender never made.',
  },
  {
    id: 'hl7-0128-reaction-severity', sheet: 'AllergySeverity[AllergyIntolerance.reaction.severity]', title: 'Allergy Severity → AllergyIntolerance.reaction.severity',
    element: 'AllergyIntolerance.reaction.severity (AL1-4)', binding: 'required',
    unmapped: { use: 'none', issue: 'information' },
    why: 'reaction.severity is optional: better absent than guessed.',
  },
  {
    id: 'hl7-0131', sheet: 'ContactRole', title: 'Contact Role → RelatedPerson.relationship',
    element: 'RelatedPerson.relationship, Patient.contact.relationship (NK1-7)', binding: 'preferred',
    unmapped: { use: 'none', issue: 'information' },
    why: 'a CodeableConcept: the sender\'s own coding is kept by the cwe converter.',
  },
  {
    id: 'hl7-0136', sheet: 'YesNoIndicator', title: 'Yes/No Indicator → boolean',
    element: 'boolean elements such as Patient.deceasedBoolean, multipleBirthBoolean (PID-30, PID-24)', binding: 'none',
    unmapped: { use: 'none', issue: 'warning' },
    why: 'a boolean cannot be guessed: anything but Y or N leaves the element out.',
  },
  {
    id: 'hl7-0136-availability', sheet: 'YesNoIndicator[AvailabilityStatus]', title: 'Yes/No Indicator → Specimen.status',
    element: 'Specimen.status (SPM-20 specimen availability)', binding: 'required',
    unmapped: { use: 'none', issue: 'information' },
    why: 'Specimen.status is optional: better absent than guessed.',
  },
  {
    id: 'hl7-0189', sheet: null, title: 'Ethnic Group → CDC Race & Ethnicity (OMB categories)',
    element: 'US Core ethnicity extension ombCategory (PID-22)', binding: 'required',
    source: { table: 'HL70189', system: 'http://terminology.hl7.org/CodeSystem/v2-0189' },
    target: 'urn:oid:2.16.840.1.113883.6.238',
    unmapped: { use: 'none', issue: 'information' },
    why: 'ombCategory allows only the two OMB codes; U and local codes stay in the sender\'s coding, which the cwe converter keeps.',
    note: [
      'The IG has no sheet for Ethnic Group yet (its Code System inventory lists it as "Under Construction").',
      'HL7 table 0189 (user-defined) lists H, N and U up to v2.5.1; later versions suggest the CDC codes,',
      'so both spellings map to the OMB categories US Core binds. U (unknown) has no OMB code.',
    ],
    rows: [
      { v2: 'H', text: 'Hispanic or Latino', code: '2135-2', display: 'Hispanic or Latino' },
      { v2: 'N', text: 'Not Hispanic or Latino', code: '2186-5', display: 'Not Hispanic or Latino' },
      { v2: '2135-2', text: 'Hispanic or Latino', code: '2135-2', display: 'Hispanic or Latino' },
      { v2: '2186-5', text: 'Not Hispanic or Latino', code: '2186-5', display: 'Not Hispanic or Latino' },
      { v2: 'U', text: 'Unknown', code: null },
    ],
  },
  {
    id: 'hl7-0190-type', sheet: 'AddressType[Type]', title: 'Address Type → Address.type',
    element: 'Address.type (XAD-7)', binding: 'required',
    unmapped: { use: 'none', issue: 'information' },
    why: 'Address.type is optional; most v2 address types are uses, not types, and hl7-0190-use covers them.',
  },
  {
    id: 'hl7-0190-use', sheet: 'AddressType[Use]', title: 'Address Type → Address.use',
    element: 'Address.use (XAD-7)', binding: 'required',
    unmapped: { use: 'none', issue: 'information' },
    why: 'Address.use is optional: better absent than guessed.',
  },
  {
    id: 'hl7-0200', sheet: 'NameType', title: 'Name Type → HumanName.use',
    element: 'HumanName.use (XPN-7, XCN-10)', binding: 'required',
    unmapped: { use: 'none', issue: 'information' },
    why: 'HumanName.use is optional and name-use has no "unknown": better absent than guessed.',
  },
  {
    id: 'hl7-0201', sheet: 'TelecommunicationUseCode', title: 'Telecommunication Use → ContactPoint.use',
    element: 'ContactPoint.use (XTN-2)', binding: 'required',
    unmapped: { use: 'none', issue: 'information' },
    why: 'ContactPoint.use is optional: better absent than guessed.',
  },
  {
    id: 'hl7-0202', sheet: 'TelecommunicationEquipmentType', title: 'Telecommunication Equipment Type → ContactPoint.system',
    element: 'ContactPoint.system (XTN-3)', binding: 'required',
    unmapped: { use: 'other', issue: 'warning' },
    why: 'FHIR requires a system whenever a ContactPoint has a value (cpt-2), so an unknown equipment type becomes "other".',
    overrides: {
      // The sheet maps CP to "mobile" in contact-point-use, which is not a ContactPoint.system
      // code; the device is a phone, and hl7-0201 (or XTN-2 PRS) carries the "mobile" use.
      CP: { code: 'phone', display: 'Phone', why: 'IG row "CP → mobile (contact-point-use)" names a use, not a system; a cellular phone is system "phone"' },
    },
  },
  {
    id: 'hl7-0203', sheet: 'IdentifierType', title: 'Identifier Type → v2-0203',
    element: 'Identifier.type (CX-5, XCN-13)', binding: 'extensible',
    unmapped: { use: 'none', issue: 'information' },
    why: 'a CodeableConcept: a local identifier type is kept as the sender\'s coding/text by the converter.',
  },
  {
    id: 'hl7-0301', sheet: 'UniversalIDType', title: 'Universal ID Type → v2-0301',
    element: 'Identifier.type of an HD (HD-3); also picks urn:oid / urn:uuid systems', binding: 'extensible',
    unmapped: { use: 'none', issue: 'information' },
    why: 'a CodeableConcept: the sender\'s coding is kept by the converter.',
  },
  {
    id: 'hl7-0162', sheet: 'RouteOfAdministration', title: 'Route of Administration → route',
    element: 'Immunization.route, Dosage.route (RXR-1)', binding: 'example',
    unmapped: { use: 'none', issue: 'information' },
    why: 'a CodeableConcept: the sender\'s own coding is kept by the cwe converter beside the mapped one.',
  },
  {
    id: 'hl7-0163', sheet: 'BodySite', title: 'Body Site → site',
    element: 'Immunization.site, Dosage.site (RXR-2)', binding: 'example',
    unmapped: { use: 'none', issue: 'information' },
    why: 'a CodeableConcept: the sender\'s own coding is kept by the cwe converter beside the mapped one.',
  },
  {
    id: 'hl7-0272', sheet: 'DocumentConfidentialityStatus', title: 'Document Confidentiality Status → DocumentReference.securityLabel',
    element: 'DocumentReference.securityLabel (TXA-18)', binding: 'extensible',
    unmapped: { use: 'none', issue: 'information' },
    why: 'a CodeableConcept: an unknown code is better left out of a security label than guessed.',
  },
  {
    id: 'hl7-0271', sheet: null, title: 'Document Completion Status → DocumentReference.docStatus',
    element: 'DocumentReference.docStatus (TXA-17)', binding: 'required',
    source: { table: 'HL70271', system: 'http://terminology.hl7.org/CodeSystem/v2-0271' },
    target: 'http://hl7.org/fhir/composition-status',
    unmapped: { use: 'none', issue: 'warning' },
    why: 'docStatus is optional with a required binding: better left out than guessed.',
    note: [
      'The IG maps TXA-17 to docStatus as ID[code] with no vocabulary map, but the v2 codes are not',
      'composition-status codes. A document still being written or not yet signed is preliminary;',
      'one authenticated (AU) or legally authenticated (LA) is final.',
    ],
    rows: [
      ['AU', 'Authenticated', 'final'],
      ['DI', 'Dictated', 'preliminary'],
      ['DO', 'Documented', 'preliminary'],
      ['IN', 'Incomplete', 'preliminary'],
      ['IP', 'In Progress', 'preliminary'],
      ['LA', 'Legally authenticated', 'final'],
      ['PA', 'Pre-authenticated', 'preliminary'],
    ].map(([v2, text, code]) => ({ v2, text, code })),
  },
  {
    id: 'hl7-0275', sheet: null, title: 'Document Availability Status → DocumentReference.status',
    element: 'DocumentReference.status (TXA-19)', binding: 'required',
    source: { table: 'HL70275', system: 'http://terminology.hl7.org/CodeSystem/v2-0275' },
    target: 'http://hl7.org/fhir/document-reference-status',
    unmapped: { use: 'current', issue: 'warning' },
    why: 'status is 1..1 with a required binding; a document the sender reports is current unless it says otherwise.',
    note: [
      'The IG maps only AV (available) to "current" and keeps CA, OB and UN as alternate codes beside',
      'a status it leaves open. Cancelled (CA) is the document withdrawn: entered-in-error, as for',
      'MDM^T11; obsolete (OB) is superseded. UN (unavailable for patient care) has no FHIR status.',
    ],
    rows: [
      ['AV', 'Available for patient care', 'current'],
      ['CA', 'Deleted', 'entered-in-error'],
      ['OB', 'Obsolete', 'superseded'],
      ['UN', 'Unavailable for patient care', null],
    ].map(([v2, text, code]) => ({ v2, text, code })),
  },
  {
    id: 'hl7-0191-mime', sheet: null, title: 'Type of Referenced Data → Attachment.contentType',
    element: 'DocumentReference.content.attachment.contentType (TXA-3)', binding: 'required',
    source: { table: 'HL70191', system: 'http://terminology.hl7.org/CodeSystem/v2-0191' },
    target: 'urn:ietf:bcp:13',
    unmapped: { use: 'none', issue: 'information' },
    why: 'a MIME type needs a subtype that image, audio and application data (IM, AU, AP …) do not name: left out.',
    note: [
      'The IG maps TXA-3 to contentType as ID[code], but table 0191 codes are not MIME types. Only',
      'the text codes name one; the engine writes text (TX, TEXT, and FT with its formatting',
      'rendered) as text/plain.',
    ],
    rows: [
      ['TX', 'Machine readable text document', 'text/plain'],
      ['TEXT', 'Machine readable text document', 'text/plain'],
      ['FT', 'Formatted text', 'text/plain'],
    ].map(([v2, text, code]) => ({ v2, text, code })),
  },
  {
    id: 'hl7-0278', sheet: 'FillerStatusCodes[Appointment]', title: 'Filler Status Codes → Appointment.status',
    element: 'Appointment.status (SCH-25, AIS-10)', binding: 'required',
    unmapped: { use: 'none', issue: 'warning' },
    why: 'the message event decides when SCH-25 says nothing FHIR can hold (Blocked, Overbook, Discontinued).',
  },
  {
    id: 'hl7-0322', sheet: 'CompletionStatus', title: 'Completion Status → Immunization.status',
    element: 'Immunization.status (RXA-20)', binding: 'required',
    unmapped: { use: 'none', issue: 'warning' },
    why: 'Immunization.status is 1..1; an unknown code falls back to the mapping\'s rule (RXA-21, else completed).',
  },
  {
    id: 'hl7-0485', sheet: 'ExtendedPriorityCodes', title: 'Extended Priority → ServiceRequest.priority',
    element: 'ServiceRequest.priority (TQ1-9, OBR-5)', binding: 'required',
    unmapped: { use: 'none', issue: 'information' },
    why: 'priority is optional: better absent than guessed.',
  },
];

// ---------------------------------------------------------------- CSV

/** RFC 4180 with the spreadsheet exporter's habits: quoted cells, "" escapes, CRLF or LF. */
function parseCsv(text) {
  const rows = [];
  let row = [];
  let cell = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (quoted) {
      if (ch === '"' && text[i + 1] === '"') {
        cell += '"';
        i++;
      } else if (ch === '"') quoted = false;
      else cell += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === ',') {
      row.push(cell);
      cell = '';
    } else if (ch === '\n' || ch === '\r') {
      if (ch === '\r' && text[i + 1] === '\n') i++;
      row.push(cell);
      rows.push(row);
      row = [];
      cell = '';
    } else cell += ch;
  }
  if (cell !== '' || row.length > 0) {
    row.push(cell);
    rows.push(row);
  }
  return rows;
}

const clean = (s) => (s ?? '').replace(/\s+/g, ' ').trim();
const isUri = (s) => /^(https?|urn):\S+$/i.test(s);

/**
 * Column positions from the second header row ("Code, Text, Code System, <conditions>, Code, …,
 * Display, Code System"); the first "Code" is the v2 side, the second the FHIR side. Preamble rows
 * before it are skipped.
 */
function columns(rows, file) {
  const at = rows.findIndex((r) => clean(r[0]).toLowerCase() === 'code' && r.some((c) => clean(c).toLowerCase() === 'text'));
  if (at < 0) throw new Error(`${file}: no header row starting with "Code, Text"`);
  const header = rows[at].map((c) => clean(c).toLowerCase());
  const codes = header.flatMap((h, i) => (h === 'code' ? [i] : []));
  const systems = header.flatMap((h, i) => (h === 'code system' ? [i] : []));
  const fhirCode = codes[1];
  if (fhirCode === undefined) throw new Error(`${file}: no FHIR "Code" column`);
  const display = header.findIndex((h, i) => i > fhirCode && h === 'display');
  const groups = (rows[at - 1] ?? []).map((c) => clean(c).toLowerCase());
  const comment = groups.findIndex((h) => h.startsWith('comment'));
  return {
    headerRow: at,
    v2Code: codes[0],
    v2Text: header.indexOf('text'),
    v2System: systems[0] ?? -1,
    conditions: header.flatMap((h, i) => (i < fhirCode && (h.startsWith('computable') || h === 'narrative') ? [i] : [])),
    fhirCode,
    // Some sheets write the display in the unnamed column right after the FHIR code.
    displays: [display, fhirCode + 1].filter((i, k, all) => i > fhirCode && all.indexOf(i) === k),
    fhirSystem: systems.find((i) => i > fhirCode) ?? -1,
    comment,
  };
}

function readSheet(sheet) {
  const file = `HL7 Concept Map_ ${sheet} - Sheet1.csv`;
  const path = join(igDir, file);
  const rows = parseCsv(readFileSync(path, 'utf8'));
  const col = columns(rows, file);
  const out = [];
  for (const r of rows.slice(col.headerRow + 1)) {
    const v2 = clean(r[col.v2Code]);
    if (v2 === '') continue; // FHIR codes with no v2 source: nothing to look up
    const code = clean(r[col.fhirCode]);
    const display = code === '' ? '' : col.displays.map((i) => clean(r[i])).find((s) => s !== '' && !isUri(s)) ?? '';
    out.push({
      v2,
      text: clean(r[col.v2Text]),
      v2System: clean(r[col.v2System]),
      condition: col.conditions.map((i) => clean(r[i])).filter((s) => s !== '').join('; '),
      code: code === '' ? null : code,
      display,
      system: clean(r[col.fhirSystem]),
      comment: col.comment >= 0 ? clean(r[col.comment]) : '',
    });
  }
  return { file, rows: out };
}

// ---------------------------------------------------------------- YAML

const RESERVED = /^(true|false|null|yes|no|on|off|y|n|~)$/i;

/** A YAML scalar that every YAML 1.1 and 1.2 reader keeps as this exact string. */
function scalar(s) {
  if (/^[A-Za-z][A-Za-z0-9 _.()/-]*$/.test(s) && !RESERVED.test(s) && !/[ ]$/.test(s) && !s.includes(' #')) return s;
  if (/^(https?|urn):[^\s#,{}[\]]+$/.test(s)) return s;
  return JSON.stringify(s);
}

const shorten = (s) => (s.length <= 100 ? s : `${s.slice(0, 99).trimEnd()}…`);

function v2SystemUri(tableName) {
  const digits = tableName.replace(/\D/g, '');
  return digits === '' ? null : `http://terminology.hl7.org/CodeSystem/v2-${digits.padStart(4, '0').slice(-4)}`;
}

function render(spec) {
  let sheet = null;
  let rows = spec.rows?.map((r) => ({ v2System: '', condition: '', display: '', system: '', comment: '', ...r }));
  if (spec.sheet !== null) {
    sheet = readSheet(spec.sheet);
    rows = sheet.rows;
  }
  const mapped = rows.filter((r) => r.code !== null);
  const counts = new Map();
  for (const r of mapped) counts.set(r.system, (counts.get(r.system) ?? 0) + 1);
  const target = spec.target ?? [...counts.entries()].sort((a, b) => b[1] - a[1])[0]?.[0];
  if (!target) throw new Error(`${spec.id}: the sheet maps no code to a FHIR system`);
  const v2Table = spec.source?.table ?? rows.find((r) => r.v2System)?.v2System.replace(/^HL7-?/, 'HL7') ?? '';
  const source = spec.source ?? { table: v2Table, system: v2SystemUri(v2Table) };

  const lines = [];
  lines.push('# yaml-language-server: $schema=../../../schemas/table.schema.json');
  if (sheet) {
    lines.push('# Seeded by scripts/generate-tables.mjs from the HL7 v2-to-FHIR IG sheet');
    lines.push(`#   ig-mappings/codesystems/${sheet.file}`);
  } else {
    lines.push('# Seeded by scripts/generate-tables.mjs; written by hand, not from an IG sheet:');
    for (const n of spec.note) lines.push(`#   ${n}`);
  }
  lines.push('# Edit freely: the generator leaves existing files alone unless run with --force.');
  lines.push(`id: ${spec.id}`);
  lines.push(`title: ${scalar(spec.title)}`);
  lines.push('source:');
  lines.push(`  table: ${scalar(source.table)}`);
  if (source.system) lines.push(`  system: ${scalar(source.system)}`);
  if (sheet) lines.push(`  sheet: ${scalar(sheet.file)}`);
  lines.push('target:');
  lines.push(`  system: ${scalar(target)}`);
  lines.push(`  element: ${scalar(spec.element)}`);
  lines.push(`  binding: ${spec.binding}`);
  lines.push(`# ${spec.why}`);
  lines.push('unmapped:');
  lines.push(`  use: ${scalar(spec.unmapped.use)}`);
  lines.push(`  issue: ${spec.unmapped.issue}`);
  lines.push('map:');

  const seen = new Set();
  const unmapped = [];
  const notes = [];
  for (const r of rows) {
    // "L,M,N" in the UniversalIDType sheet is three codes sharing one row.
    const codes = r.v2.includes(',') && r.code === r.v2 ? r.v2.split(',').map((c) => c.trim()) : [r.v2];
    for (const v2 of codes) {
      if (seen.has(v2)) {
        notes.push(`  # ${scalar(v2)}: a further IG row (${r.condition || 'no condition'} → ${r.code ?? 'no code'}) is not used; the first unconditional row wins`);
        continue;
      }
      if (r.condition !== '' && r.code === null) {
        unmapped.push(`  #   ${v2.padEnd(8)} ${shorten(r.text)} (IG condition: ${r.condition})`);
        seen.add(v2);
        continue;
      }
      if (r.condition !== '') {
        notes.push(`  # ${scalar(v2)}: the IG row is conditional (${r.condition}); it needs a mapping rule, not a table entry`);
        continue;
      }
      seen.add(v2);
      const override = spec.overrides?.[v2];
      if (r.code === null && override === undefined) {
        unmapped.push(`  #   ${v2.padEnd(8)} ${shorten(r.text)}${r.comment ? ` (IG: ${shorten(r.comment)})` : ''}`);
        continue;
      }
      const code = codes.length > 1 ? v2 : override?.code ?? r.code;
      const display = override?.display ?? r.display;
      const parts = [`code: ${scalar(code)}`];
      if (display) parts.push(`display: ${scalar(display)}`);
      const system = override ? target : r.system;
      if (system && system !== target) parts.push(`system: ${scalar(system)}`);
      const why = override?.why ?? (r.text && r.text !== display ? shorten(r.text) : '');
      lines.push(`  ${scalar(v2)}: { ${parts.join(', ')} }${why ? `  # ${why}` : ''}`);
    }
  }
  if (unmapped.length > 0) {
    lines.push('  # No FHIR code in the IG for these v2 codes; they follow the `unmapped` rule:');
    lines.push(...unmapped);
  }
  lines.push(...notes);
  return { text: `${lines.join('\n')}\n`, entries: seen.size - unmapped.length };
}

// ---------------------------------------------------------------- main

if (!existsSync(igDir)) {
  console.error(`IG sheets not found at ${igDir}; pass --ig <folder with the codesystems CSVs>`);
  process.exit(1);
}
const known = new Set(readdirSync(igDir));
mkdirSync(outDir, { recursive: true });
let written = 0;
let kept = 0;
for (const spec of TABLES) {
  if (spec.sheet !== null && !known.has(`HL7 Concept Map_ ${spec.sheet} - Sheet1.csv`)) {
    console.error(`${spec.id}: IG sheet '${spec.sheet}' not found in ${igDir}`);
    process.exit(1);
  }
  const out = join(outDir, `${spec.id}.yaml`);
  if (existsSync(out) && !force) {
    kept++;
    continue;
  }
  const { text, entries } = render(spec);
  writeFileSync(out, text);
  written++;
  console.log(`${spec.id}.yaml: ${entries} codes`);
}
console.log(`${written} table(s) written, ${kept} existing kept${kept > 0 ? ' (--force rewrites them)' : ''}`);
