import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_DELIMITERS, type Delimiters, type MshSummary } from '../../src/hl7/types.js';
import {
  ackCodeFor,
  buildAck,
  ERR_APPLICATION_INTERNAL,
  ERR_REQUIRED_FIELD_MISSING,
  ERR_UNSUPPORTED_MESSAGE_TYPE,
  formatTimestamp,
  newControlId,
  shouldSendAck,
  type AckOutcome,
  type AckRequest,
} from '../../src/hl7/index.js';

// The inbound message these summaries describe:
// MSH|^~\&|LAB|HOSP|ENGINE|CENTRAL|20261121083000||ADT^A01^ADT_A01|MSG0001|P|2.5.1
function inbound(over: Partial<MshSummary> = {}): MshSummary {
  return {
    sendingApplication: 'LAB',
    sendingFacility: 'HOSP',
    receivingApplication: 'ENGINE',
    receivingFacility: 'CENTRAL',
    dateTime: '20261121083000',
    messageType: 'ADT^A01^ADT_A01',
    messageCode: 'ADT',
    triggerEvent: 'A01',
    messageStructure: 'ADT_A01',
    controlId: 'MSG0001',
    processingId: 'P',
    version: '2.5.1',
    acceptAckType: '',
    applicationAckType: '',
    characterSet: '',
    ...over,
  };
}

const NOW = new Date('2026-11-21T08:30:00.123Z');

function request(over: Partial<AckRequest> = {}): AckRequest {
  return {
    inbound: inbound(),
    delimiters: DEFAULT_DELIMITERS,
    outcome: 'accepted',
    mode: 'original',
    controlId: 'ACK0001',
    now: NOW,
    ...over,
  };
}

/** The ACK with MSH-7 replaced by NOW, so the expected text can be written out in full. */
function ack(req: AckRequest): string {
  const text = buildAck(req);
  const sep = req.delimiters.field;
  const [msh = '', ...rest] = text.split('\r');
  const fields = msh.split(sep);
  assert.equal(fields[6], formatTimestamp(req.now));
  fields[6] = 'NOW';
  return [fields.join(sep), ...rest].join('\r');
}

function msa1(req: AckRequest): string {
  const msa = buildAck(req).split('\r').find((s) => s.startsWith('MSA'));
  return msa?.split(req.delimiters.field)[1] ?? '';
}

test('an accepted message gets AA with MSH-3..6 swapped, MSA-2 = inbound MSH-10, segments ending in CR', () => {
  assert.equal(
    ack(request()),
    'MSH|^~\\&|ENGINE|CENTRAL|LAB|HOSP|NOW||ACK^A01^ACK|ACK0001|P|2.5.1\r' + 'MSA|AA|MSG0001\r',
  );
});

test('original mode answers AA, AE and AR', () => {
  const codes = (['accepted', 'error', 'rejected'] as const).map((outcome) => msa1(request({ outcome, mode: 'original' })));
  assert.deepEqual(codes, ['AA', 'AE', 'AR']);
});

test('enhanced mode answers CA, CE and CR', () => {
  const codes = (['accepted', 'error', 'rejected'] as const).map((outcome) => msa1(request({ outcome, mode: 'enhanced' })));
  assert.deepEqual(codes, ['CA', 'CE', 'CR']);
});

test('an explicit code overrides the outcome mapping (storage unavailable in enhanced mode is CR)', () => {
  assert.equal(msa1(request({ outcome: 'error', mode: 'enhanced', code: 'CR' })), 'CR');
});

test('auto mode is enhanced when the inbound MSH-15 or MSH-16 is filled, original otherwise', () => {
  assert.equal(ackCodeFor('accepted', 'auto', inbound({ acceptAckType: 'AL' })), 'CA');
  assert.equal(ackCodeFor('error', 'auto', inbound({ applicationAckType: 'NE' })), 'CE');
  assert.equal(ackCodeFor('rejected', 'auto', inbound()), 'AR');
  assert.equal(ackCodeFor('rejected', 'auto', null), 'AR');
  assert.equal(ackCodeFor('accepted', 'original', inbound({ acceptAckType: 'AL' })), 'AA');
});

test('composite MSH-3..6 (HD with components) are swapped as sent, not re-escaped', () => {
  const req = request({
    inbound: inbound({
      sendingApplication: 'LAB^1.2.3.4^ISO',
      sendingFacility: 'HOSP',
      receivingApplication: 'ENGINE^2.16.840.1^ISO',
      receivingFacility: '',
    }),
    sendingFacility: 'OUR FAC',
  });
  assert.equal(
    ack(req).split('\r')[0],
    'MSH|^~\\&|ENGINE^2.16.840.1^ISO|OUR FAC|LAB^1.2.3.4^ISO|HOSP|NOW||ACK^A01^ACK|ACK0001|P|2.5.1',
  );
});

test('our configured names fill MSH-3/4 when the inbound MSH-5/6 are empty, escaped as plain text', () => {
  const req = request({
    inbound: inbound({ receivingApplication: '', receivingFacility: '' }),
    sendingApplication: 'HL7^ENGINE',
    sendingFacility: 'A&B',
  });
  assert.equal(ack(req).split('\r')[0], 'MSH|^~\\&|HL7\\S\\ENGINE|A\\T\\B|LAB|HOSP|NOW||ACK^A01^ACK|ACK0001|P|2.5.1');
});

test('MSA-2 echoes the inbound MSH-10, escaped', () => {
  const req = request({ inbound: inbound({ controlId: 'X|1^2' }) });
  assert.equal(ack(req).split('\r')[1], 'MSA|AA|X\\F\\1\\S\\2');
});

test('custom delimiters of the inbound message are used for the whole ACK and for escaping', () => {
  const custom: Delimiters = { field: '#', component: '$', repetition: '*', escape: '@', subcomponent: '%', truncation: null };
  const req = request({
    delimiters: custom,
    outcome: 'error',
    text: 'use # and $ and @',
    error: { code: ERR_REQUIRED_FIELD_MISSING, severity: 'E', text: 'PID-3 missing', location: { segment: 'PID', sequence: 1, field: 3 } },
  });
  assert.equal(
    ack(req),
    'MSH#$*@%#ENGINE#CENTRAL#LAB#HOSP#NOW##ACK$A01$ACK#ACK0001#P#2.5.1\r' +
      'MSA#AE#MSG0001#use @F@ and @S@ and @E@\r' +
      'ERR##PID$1$3#101$PID-3 missing$HL70357#E\r',
  );
});

test('every delimiter, CR and LF inside MSA-3 text is escaped', () => {
  const req = request({ text: 'a|b^c~d\\e&f\rg\nh' });
  assert.equal(ack(req).split('\r')[1], 'MSA|AA|MSG0001|a\\F\\b\\S\\c\\R\\d\\E\\e\\T\\f\\X0D\\g\\X0A\\h');
});

test('a v2.7 truncation character is written in MSH-2 and escaped as \\P\\ in values', () => {
  const d27: Delimiters = { ...DEFAULT_DELIMITERS, truncation: '#' };
  const req = request({ delimiters: d27, inbound: inbound({ version: '2.7' }), text: 'room #4' });
  const [msh, msa] = ack(req).split('\r');
  assert.equal(msh, 'MSH|^~\\&#|ENGINE|CENTRAL|LAB|HOSP|NOW||ACK^A01^ACK|ACK0001|P|2.7');
  assert.equal(msa, 'MSA|AA|MSG0001|room \\P\\4');
});

test('ERR for v2.5.1 has ERR-2 location (ERL), ERR-3 code^text^HL70357 and ERR-4 severity', () => {
  const req = request({
    outcome: 'error',
    error: { code: ERR_REQUIRED_FIELD_MISSING, severity: 'E', text: 'Required field missing', location: { segment: 'PID', sequence: 1, field: 3, component: 1 } },
  });
  assert.equal(ack(req).split('\r')[2], 'ERR||PID^1^3^^1|101^Required field missing^HL70357|E');
});

test('ERR for v2.5.1 without a known location leaves ERR-2 empty', () => {
  const req = request({
    outcome: 'error',
    error: { code: ERR_APPLICATION_INTERNAL, severity: 'E', text: 'Storage unavailable, resend later' },
  });
  assert.equal(ack(req).split('\r')[2], 'ERR|||207^Storage unavailable, resend later^HL70357|E');
});

test('ERR for v2.3 is ERR-1 (ELD): segment^sequence^field^code&text&HL70357', () => {
  const req = request({
    inbound: inbound({ version: '2.3' }),
    outcome: 'rejected',
    error: { code: ERR_UNSUPPORTED_MESSAGE_TYPE, severity: 'E', text: 'Message type not accepted', location: { segment: 'MSH', sequence: 1, field: 9 } },
  });
  assert.equal(
    ack(req),
    'MSH|^~\\&|ENGINE|CENTRAL|LAB|HOSP|NOW||ACK^A01^ACK|ACK0001|P|2.3\r' +
      'MSA|AR|MSG0001\r' +
      'ERR|MSH^1^9^200&Message type not accepted&HL70357\r',
  );
});

test('MSH-18 is echoed when the inbound message had one, repeats kept', () => {
  const req = request({ inbound: inbound({ characterSet: '8859/1~UNICODE UTF-8' }) });
  assert.equal(
    ack(req).split('\r')[0],
    'MSH|^~\\&|ENGINE|CENTRAL|LAB|HOSP|NOW||ACK^A01^ACK|ACK0001|P|2.5.1||||||8859/1~UNICODE UTF-8',
  );
});

test('MSH-11 and MSH-12 are echoed as sent', () => {
  const req = request({ inbound: inbound({ processingId: 'T^A', version: '2.4' }) });
  assert.equal(ack(req).split('\r')[0], 'MSH|^~\\&|ENGINE|CENTRAL|LAB|HOSP|NOW||ACK^A01^ACK|ACK0001|T^A|2.4');
});

test('an unknown inbound message (null) gets our names, ACK without trigger, P, 2.5.1 and an empty MSA-2', () => {
  const req = request({
    inbound: null,
    outcome: 'rejected',
    sendingApplication: 'ENGINE',
    sendingFacility: 'CENTRAL',
    error: { code: ERR_APPLICATION_INTERNAL, severity: 'E', text: 'No MSH segment' },
  });
  assert.equal(
    ack(req),
    'MSH|^~\\&|ENGINE|CENTRAL|||NOW||ACK|ACK0001|P|2.5.1\r' + 'MSA|AR|\r' + 'ERR|||207^No MSH segment^HL70357|E\r',
  );
});

test('shouldSendAck: original mode always answers; enhanced mode follows MSH-15 AL/empty, NE, ER, SU', () => {
  const outcomes: AckOutcome[] = ['accepted', 'error', 'rejected'];
  const row = (mode: 'original' | 'enhanced', msh15: string): boolean[] =>
    outcomes.map((o) => shouldSendAck(o, mode, inbound({ acceptAckType: msh15 })));
  assert.deepEqual(row('original', 'NE'), [true, true, true]);
  assert.deepEqual(row('enhanced', 'AL'), [true, true, true]);
  assert.deepEqual(row('enhanced', ''), [true, true, true]);
  assert.deepEqual(row('enhanced', 'NE'), [false, false, false]);
  assert.deepEqual(row('enhanced', 'ER'), [false, true, true]);
  assert.deepEqual(row('enhanced', 'SU'), [true, false, false]);
  assert.equal(shouldSendAck('accepted', 'enhanced', null), true);
});

test('shouldSendAck in auto mode honours MSH-15 only when the sender asked for enhanced mode', () => {
  assert.equal(shouldSendAck('accepted', 'auto', inbound({ acceptAckType: 'ER', applicationAckType: 'NE' })), false);
  assert.equal(shouldSendAck('error', 'auto', inbound({ acceptAckType: 'ER' })), true);
  assert.equal(shouldSendAck('accepted', 'auto', inbound()), true);
});

test('newControlId gives unique ids of at most 20 characters, in creation order', () => {
  const ids = Array.from({ length: 50_000 }, () => newControlId());
  assert.equal(new Set(ids).size, ids.length);
  for (const id of ids) assert.match(id, /^[0-9A-Z]{1,20}$/);
  assert.deepEqual([...ids].sort(), ids);
});

test('MSH-7 is YYYYMMDDHHMMSS.SSS+ZZZZ and denotes the given instant', () => {
  const ts = formatTimestamp(NOW);
  const m = /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})\.(\d{3})([+-])(\d{2})(\d{2})$/.exec(ts);
  assert.ok(m, `unexpected shape ${ts}`);
  const [, y, mo, d, h, mi, s, ms, , oh, om] = m.map(Number);
  const local = Date.UTC(y ?? 0, (mo ?? 1) - 1, d, h, mi, s, ms);
  const offsetMs = ((oh ?? 0) * 60 + (om ?? 0)) * 60_000 * (m[8] === '-' ? -1 : 1);
  assert.equal(local - offsetMs, NOW.getTime());
});

// Regression (property seed 355966602): MSH-2 "^~&" has no escape character, so MSH-10
// "ADT^01" is the control id exactly as sent. The ACK used to write escape sequences with an
// empty escape character, leaving bare sequence letters: MSA-2 "ADTS01".
test('a message without an escape character gets its control id back as sent in MSA-2, delimiters included', () => {
  const d: Delimiters = { field: '|', component: '^', repetition: '~', escape: '', subcomponent: '&', truncation: null };
  const ack = buildAck({
    inbound: inbound({ controlId: 'ADT^01', triggerEvent: 'A01&X', version: '2.5' }),
    delimiters: d,
    outcome: 'rejected',
    mode: 'original',
    controlId: 'ACK0001',
    now: NOW,
    text: 'message type ADT^A01 is not accepted',
    error: { code: ERR_UNSUPPORTED_MESSAGE_TYPE, severity: 'E', text: 'message type ADT^A01 is not accepted', location: { segment: 'MSH', sequence: 1, field: 9 } },
  });
  const [msh, msa, err] = ack.split('\r');
  assert.equal(msh, `MSH|^~&|ENGINE|CENTRAL|LAB|HOSP|${formatTimestamp(NOW)}||ACK^A01&X^ACK|ACK0001|P|2.5`);
  // Our own text cannot be escaped without an escape character: its delimiters become spaces,
  // so MSA-3 and ERR keep their shape.
  assert.equal(msa, 'MSA|AR|ADT^01|message type ADT A01 is not accepted');
  assert.equal(err, 'ERR||MSH^1^9|200^message type ADT A01 is not accepted^HL70357|E');
});

test('before v2.5, a message without a subcomponent separator gets ERR-1.4 as the bare code, not code, text and table run together', () => {
  const d: Delimiters = { field: '!', component: '|', repetition: "'", escape: '\\', subcomponent: '', truncation: null };
  const ack = buildAck({
    inbound: inbound({ version: '2.3' }),
    delimiters: d,
    outcome: 'rejected',
    mode: 'original',
    controlId: 'ACK0002',
    now: NOW,
    error: { code: ERR_REQUIRED_FIELD_MISSING, severity: 'E', text: 'MSH-10 (message control id) is empty', location: { segment: 'MSH', sequence: 1, field: 10 } },
  });
  assert.equal(ack.split('\r')[2], 'ERR!MSH|1|10|101');
});
