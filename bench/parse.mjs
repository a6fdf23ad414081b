#!/usr/bin/env node
// Parser throughput on one core: parse only, and parse + reading the fields ingest and routing
// need. Run after building: `npx tsc -p . && node bench/parse.mjs`.
import { parseMessage } from '../dist/src/hl7/index.js';

function adtA01(n) {
  return [
    `MSH|^~\\&|EPICADT|GOODHEALTH^1.2.840.114350.1.13.0^ISO|LABSYS|GOODHEALTH_LAB|20240315083000+0100||ADT^A01^ADT_A01|MSG${String(n).padStart(8, '0')}|P|2.5.1|||AL|NE||UNICODE UTF-8`,
    'EVN|A01|20240315083000|||OP123^ALLEN^MARY^^^DR|20240315082500',
    'PID|1||1234567^^^GOODHEALTH^MR^GOODHEALTH~987-65-4321^^^SSA^SS||EVERYMAN^ADAM^A^III^MR^^L~EVERYMAN^ADAM^^^^^A||19800101|M||2106-3^White^CDCREC|2222 HOME STREET^APT 4B^GREENSBORO^NC^27401-1020^USA^H||^PRN^PH^^1^555^5551234~^NET^Internet^adam@example.org|^WPN^PH^^1^555^5559876|eng^English^ISO6392|M^Married^HL70002|CHR^Christian^HL70006|4000012345^^^GOODHEALTH^AN|444-33-3333|||N^Not Hispanic or Latino^HL70189',
    'PD1|||GOOD HEALTH CLINIC^^12345|1234^PRIMARY^PAT^^^DR^MD',
    'NK1|1|EVERYWOMAN^EVE^E^^^^L|SPO^Spouse^HL70063|2222 HOME STREET^^GREENSBORO^NC^27401^USA|^PRN^PH^^1^555^5554321|^WPN^PH^^1^555^5555678|C^Emergency Contact^HL70131',
    'PV1|1|I|2000^2012^01^GOODHEALTH^^^^NURSING|E^Emergency^HL70007|||004777^ATTEND^AARON^A^^^DR^MD|004888^REFER^RITA^R^^^DR^MD|004999^CONSULT^CARL^C^^^DR^MD|SUR||||ADM|A0||004777^ATTEND^AARON^A^^^DR^MD|IN^Inpatient|V1234567^^^GOODHEALTH^VN|SP|||||||||||||||||||GOODHEALTH||A|||20240315082500',
    'PV2|||^CHEST PAIN, RULE OUT MI||||||20240318|3',
    'OBX|1|NM|8867-4^Heart rate^LN||88|/min^beats per minute^UCUM|60-100|N|||F|||20240315082000',
    'OBX|2|NM|8480-6^Systolic blood pressure^LN||142|mm[Hg]^millimeter of mercury^UCUM|90-140|H|||F|||20240315082000',
    'DG1|1||I20.9^Angina pectoris, unspecified^I10||20240315|A',
    '',
  ].join('\r');
}

const texts = Array.from({ length: 64 }, (_, i) => adtA01(i));
const size = texts[0].length;

const FIELDS = ['MSH-9.1', 'MSH-9.2', 'MSH-10', 'MSH-12', 'PID-3.1', 'PID-3[2].4', 'PID-5.1', 'PID-5.2', 'PID-7', 'PV1-2', 'PV1-3.1'];

function parseOnly(i) {
  const r = parseMessage(texts[i & 63]);
  if (!r.ok) throw new Error(r.error.message);
  return r.message.segmentCount;
}

function parseAndRead(i) {
  const r = parseMessage(texts[i & 63]);
  if (!r.ok) throw new Error(r.error.message);
  const m = r.message;
  let n = 0;
  for (const f of FIELDS) n += (m.get(f) ?? '').length;
  return n;
}

function measure(fn, ms) {
  let sink = 0;
  let count = 0;
  const start = process.hrtime.bigint();
  const budget = BigInt(ms) * 1_000_000n;
  for (;;) {
    for (let k = 0; k < 1000; k++) sink += fn(count++);
    if (process.hrtime.bigint() - start > budget) break;
  }
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  if (sink < 0) console.log(sink);
  return count / seconds;
}

measure(parseOnly, 1000); // warm-up: let the JIT settle before timing
measure(parseAndRead, 1000);
const parseRate = measure(parseOnly, 3000);
const readRate = measure(parseAndRead, 3000);

const fmt = (n) => Math.round(n).toLocaleString('en-US');
console.log('| message | bytes | parse only (msg/s) | parse + read 11 fields (msg/s) | node |');
console.log('|---|---|---|---|---|');
console.log(`| ADT^A01 | ${size} | ${fmt(parseRate)} | ${fmt(readRate)} | ${process.version} |`);
