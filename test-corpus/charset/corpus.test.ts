/**
 * Real messages from the shared corpus whose MANIFEST notes a charset quirk (UTF-8, Latin-1, BOM,
 * MSH-18, mojibake) decode to the characters the sender meant.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isAscii } from 'node:buffer';
import { readFileSync } from 'node:fs';
import { decodeMessage } from '../../src/charset/index.js';
import { join } from 'node:path';
import { decodeOk } from '../../test/charset/helpers.js';
import { CORPUS_DIR, readCorpusFile as corpusBytes } from '../support/corpus.js';

const kinds = (r: { repairs: readonly { kind: string }[] }): string[] => r.repairs.map((x) => x.kind);

test('UTF-8 BOM before MSH (CDC Genv2 TC08): BOM decides and is removed', () => {
  const result = decodeOk(corpusBytes('CDCgov-data-exchange-hl7/Genv2_2-0-1_TC08.txt'));
  assert.equal(result.decision.source, 'bom');
  assert.equal(result.decision.charset, 'utf-8');
  assert.ok(result.text.startsWith('MSH|^~\\&|'));
  assert.equal(kinds(result)[0], 'bom-removed');
});

test('double-encoded U+200B "â€‹" in OBX text (CDC PERT TC04) is restored', () => {
  const result = decodeOk(corpusBytes('CDCgov-data-exchange-hl7/PERT_V1.0.1_TM_TC04.txt'));
  assert.equal(result.decision.charset, 'utf-8');
  assert.ok(result.text.includes('[Units/\u200bvolume]'));
  assert.ok(!result.text.includes('â€'));
  assert.equal(result.repairs.find((r) => r.kind === 'double-encoded-utf8')?.count, 2);
});

test('Latin-1 mojibake of ’ in NTE (CDC RawHL7DataCELR) is restored', () => {
  const result = decodeOk(corpusBytes('CDCgov-data-exchange-hl7/RawHL7DataCELR.txt'));
  assert.ok(result.text.includes('Administration’s Emergenc'));
  assert.ok(kinds(result).includes('double-encoded-utf8'));
});

test('MSH-18 8859/1 with UTF-8 bytes (ReportStream elims_29) decodes as UTF-8 and records the lie', () => {
  const result = decodeOk(corpusBytes('CDCgov-prime-reportstream/HL7_to_FHIR_to_HL7/elims_29_5065302_35227_NoPII_CANCELED.hl7'));
  assert.equal(result.decision.declared, '8859/1');
  assert.equal(result.decision.charset, 'utf-8');
  assert.ok(kinds(result).includes('declared-charset-contradicted'));
  // the sender's bytes EF BF BD are a real U+FFFD, not "ï¿½"
  assert.ok(result.text.includes('Ciprofloxacin 2.0 \uFFFDg/mL'));
  assert.ok(!result.text.includes('ï¿½'));
});

test('repeating MSH-18 "UTF-8~UNICODE" (ReportStream) uses the first repetition', () => {
  const result = decodeOk(corpusBytes('CDCgov-prime-reportstream/mappinginventory/catchall/msh/MSH-to-MessageHeader-handles-multiple-msh18.hl7'));
  assert.deepEqual(result.decision, { source: 'msh18', charset: 'utf-8', declared: 'UTF-8~UNICODE' });
});

test('MSH-18 "code1~code2" (IPF msg-02) is unknown, so the bytes decide', () => {
  const result = decodeOk(corpusBytes('oehf-ipf/modules-hl7/msg-02.hl7'));
  assert.equal(result.decision.source, 'utf8-valid');
  assert.ok(kinds(result).includes('unknown-declared-charset'));
});

test('ISO-8859-1 Ä and Ö without MSH-18 (IPF iti8-a40) decode through the fallback', () => {
  const result = decodeOk(corpusBytes('oehf-ipf/platform-camel-ihe-mllp/iti8/iti8-a40-iso-8859-1.hl7'));
  assert.equal(result.decision.source, 'fallback');
  assert.ok(result.text.includes('|BLÄH|BLÖÖÖH-1|'));
  assert.deepEqual(kinds(result), ['crlf-terminators']);
});

test('the ISO-8859-1 twin of iti8-a40 decodes to the ASCII original with BLAH spelled BLÄH and BLÖÖÖH', () => {
  const latin = decodeOk(corpusBytes('oehf-ipf/platform-camel-ihe-mllp/iti8/iti8-a40-iso-8859-1.hl7')).text;
  const ascii = decodeOk(corpusBytes('oehf-ipf/platform-camel-ihe-mllp/iti8/iti8-a40.hl7')).text;
  assert.equal(latin, ascii.replace('|BLAH|BLAH-1|', '|BLÄH|BLÖÖÖH-1|'));
});

test('UTF-8 umlauts without MSH-18 (IPF msg-01-utf8) decode as UTF-8 with no repair', () => {
  const result = decodeOk(corpusBytes('oehf-ipf/platform-camel-hl7/message/msg-01-utf8.hl7'));
  assert.equal(result.decision.source, 'utf8-valid');
  assert.ok(result.text.includes('Nächname^Vörname'));
  assert.ok(result.text.includes('Blöhplatz'));
  assert.ok(!kinds(result).includes('double-encoded-utf8'));
});

test('UTF-8 accented names (rethinkhealth edge-non-ascii) are not mistaken for mojibake', () => {
  const result = decodeOk(corpusBytes('rethinkhealth-hl7v2/edge-non-ascii.hl7'));
  for (const word of ['Straße', 'München']) assert.ok(result.text.includes(word), word);
  assert.deepEqual(kinds(result), ['lf-terminators']);
});

test('an en dash in UTF-8 (CDC ARBOVIRAL TC07) survives untouched', () => {
  const result = decodeOk(corpusBytes('CDCgov-data-exchange-hl7/ARBOVIRAL_V1_3_TM_CN_TC07.txt'));
  assert.ok(result.text.includes('Encephalitis – Including'));
});

test('a FHS batch declaring UNICODE UTF-8 (ReportStream covid-19) keeps its curly quotes', () => {
  const result = decodeOk(corpusBytes('CDCgov-prime-reportstream/clitests/test-0001-input-covid-19.hl7'));
  assert.equal(result.decision.source, 'msh18');
  assert.equal(result.decision.charset, 'utf-8');
  assert.ok(result.text.startsWith('FHS|'));
  assert.ok(result.text.includes('‘preliminary.’'));
});

test('a headerless ISO-8859-1 OBX (sftp-ingestion) decodes µ and keeps its content', () => {
  const result = decodeOk(corpusBytes('CDCgov-reportstream-sftp-ingestion/ISO-8859-1.hl7'));
  assert.equal(result.decision.source, 'fallback');
  assert.ok(result.text.startsWith('OBX|1|'));
  assert.ok(result.text.includes('|µmol/L|'));
  assert.ok(!kinds(result).includes('junk-before-msh'));
});

test('MSH-18 ASCII on ASCII bytes (Google harmonization adt_a01) is honoured', () => {
  const result = decodeOk(corpusBytes('GoogleCloudPlatform-healthcare-data-harmonization/adt_a01.hl7'));
  assert.deepEqual(result.decision, { source: 'msh18', charset: 'us-ascii', declared: 'ASCII' });
});

function manifestPaths(): string[] {
  return readFileSync(join(CORPUS_DIR, 'MANIFEST.tsv'), 'utf8')
    .split('\n')
    .slice(1)
    .map((line) => line.split('\t')[0] ?? '')
    .filter((p) => p !== '');
}

test('every corpus file decodes without throwing, and clean ASCII messages come back unchanged', () => {
  let unchanged = 0;
  for (const path of manifestPaths()) {
    const bytes = corpusBytes(path);
    const result = decodeMessage(bytes, { fallback: 'windows-1252' });
    assert.ok(result.ok, path);
    const clean =
      isAscii(bytes) && !bytes.includes(0x0a) && !bytes.includes(0x00) && /^(MSH|FHS|BHS)/.test(bytes.toString('latin1', 0, 3));
    if (clean) {
      assert.equal(result.text, bytes.toString('latin1'), path);
      unchanged += 1;
    }
  }
  assert.ok(unchanged > 50, `expected many clean ASCII messages, found ${unchanged}`);
});
