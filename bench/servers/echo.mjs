#!/usr/bin/env node
// The ceiling: MLLP framing and a fixed ACK, nothing else (no decoding, no parsing, no copy of
// the message). Whatever this does per second is what the machine, Node's sockets and the
// driver allow; every other contender does this plus its own work.
import { fail, serve, serveTcp } from './harness.mjs';

const FS = 0x1c;
const CR = 0x0d;
const ACK = Buffer.from(
  '\x0bMSH|^~\\&|ECHO|BENCH|SND|FAC|20260101000000||ACK|ECHO|P|2.5.1\rMSA|AA|ECHO\r\x1c\r',
  'latin1',
);

serve(({ port }) =>
  serveTcp(port, (socket) => {
    // Only state kept: whether the previous chunk ended on FS, so FS|CR split across chunks counts.
    let pendingFs = false;
    socket.on('data', (chunk) => {
      let acks = 0;
      let i = 0;
      if (pendingFs && chunk[0] === CR) {
        acks++;
        i = 1;
      }
      pendingFs = false;
      for (;;) {
        const at = chunk.indexOf(FS, i);
        if (at === -1) break;
        if (at + 1 === chunk.length) {
          pendingFs = true;
          break;
        }
        if (chunk[at + 1] === CR) acks++;
        i = at + 1;
      }
      for (let k = 0; k < acks; k++) socket.write(ACK);
    });
  }),
).catch(fail);
