#!/usr/bin/env node
// node-hl7-server 2.5.0 (the newest on npm) as a user would run it: one inbound listener whose
// handler answers AA on receipt. The handler is synchronous on purpose: an async handler that
// rejects kills the process (research/node-hl7-evaluation.md §1.2), which would end the run
// rather than measure it. Its known framing defect (the per-socket buffer is never cleared, so
// message n makes it answer messages 1..n again) is left as shipped: the driver waits for the
// ACK that names its own MSH-10 and counts the others as stale.
import { Server } from 'node-hl7-server';
import { fail, serve } from './harness.mjs';


serve(async ({ port }) => {
  // bindAddress is ignored by 2.5.0 (it listens on every interface); passed for the record.
  const server = new Server({ bindAddress: '127.0.0.1' });
  let handlerErrors = 0;
  const inbound = server.createInbound({ port }, (req, res) => {
    res.sendResponse('AA').catch(() => handlerErrors++);
  });
  inbound.on('data.error', () => handlerErrors++);
  await new Promise((r) => setTimeout(r, 200));
  return {
    stats: async () => ({ handlerErrors }),
    stop: async () => {
      await inbound.close();
    },
  };
}).catch(fail);
