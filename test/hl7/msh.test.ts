import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseMessage } from '../../src/hl7/index.js';

test('msh() summarises MSH with "as sent" fields raw and single values unescaped', () => {
  const result = parseMessage(
    'MSH|^~\\&|EPIC^1.2.3^ISO|HOSP|LAB|LABFAC|20240101120000+0100||ORU^R01^ORU_R01|CTL\\T\\1|P^T|2.5.1^USA|||AL|NE||UNICODE UTF-8~8859/1\rPID|1\r',
  );
  assert.ok(result.ok);
  assert.deepEqual(result.message.msh(), {
    sendingApplication: 'EPIC^1.2.3^ISO',
    sendingFacility: 'HOSP',
    receivingApplication: 'LAB',
    receivingFacility: 'LABFAC',
    dateTime: '20240101120000+0100',
    messageType: 'ORU^R01^ORU_R01',
    messageCode: 'ORU',
    triggerEvent: 'R01',
    messageStructure: 'ORU_R01',
    controlId: 'CTL&1',
    processingId: 'P^T',
    version: '2.5.1',
    acceptAckType: 'AL',
    applicationAckType: 'NE',
    characterSet: 'UNICODE UTF-8~8859/1',
  });
});

test('msh() gives empty strings for fields the sender left out', () => {
  const result = parseMessage('MSH|^~\\&|APP||||||ADT^A04|7\r');
  assert.ok(result.ok);
  const s = result.message.msh();
  assert.equal(s.messageStructure, '');
  assert.equal(s.version, '');
  assert.equal(s.characterSet, '');
  assert.equal(s.triggerEvent, 'A04');
});
