#!/usr/bin/env node
// @medplum/hl7 4.5.2's Hl7Server (the newest release whose engines field allows Node 20) as its
// README shows it: answer every message with message.buildAck(), i.e. AA on receipt.
import { Hl7Server } from '@medplum/hl7';
import { fail, serve } from './harness.mjs';

serve(async ({ port }) => {
  const server = new Hl7Server((connection) => {
    connection.addEventListener('message', ({ message }) => {
      connection.send(message.buildAck());
    });
    connection.addEventListener('error', () => undefined);
  });
  server.start(port);
  await new Promise((r) => setTimeout(r, 200));
  return { stop: () => server.stop({ forceDrainTimeoutMs: 1000 }).catch(() => undefined) };
}).catch(fail);
