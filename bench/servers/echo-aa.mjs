#!/usr/bin/env node
// The outbound ceiling: MLLP framing and an AA whose MSA-2 is the message's MSH-10, nothing else
// (the delivery path refuses an ACK whose MSA-2 does not match, so echo.mjs's fixed ACK would be a
// failure). MSH-10 is found by counting field separators in the first segment; no parsing, no
// decoding of the rest.
import { fail, serve, serveTcp } from './harness.mjs';

const VT = 0x0b;
const FS = 0x1c;
const CR = 0x0d;
const HEAD = Buffer.from('\x0bMSH|^~\\&|ECHO|BENCH|SND|FAC|20260101000000||ACK|ECHO|P|2.5.1\rMSA|AA|', 'latin1');
const TAIL = Buffer.from('\r\x1c\r', 'latin1');

/** MSH-10 of a frame's payload: the text between the 9th and 10th "|" (MSH-1 is the first "|"). */
function controlId(frame) {
  let bars = 0;
  let start = -1;
  for (let i = 0; i < frame.length && frame[i] !== CR; i++) {
    if (frame[i] !== 0x7c) continue;
    bars++;
    if (bars === 9) start = i + 1;
    else if (bars === 10) return frame.subarray(start, i);
  }
  return Buffer.alloc(0);
}

serve(({ port }) =>
  serveTcp(port, (socket) => {
    let pending = Buffer.alloc(0);
    socket.on('data', (chunk) => {
      let buf = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
      for (;;) {
        const start = buf.indexOf(VT);
        if (start === -1) {
          buf = Buffer.alloc(0);
          break;
        }
        const end = buf.indexOf(FS, start);
        if (end === -1 || end + 1 >= buf.length) {
          buf = buf.subarray(start);
          break;
        }
        socket.write(Buffer.concat([HEAD, controlId(buf.subarray(start + 1, end)), TAIL]));
        buf = buf.subarray(end + (buf[end + 1] === CR ? 2 : 1));
      }
      pending = Buffer.from(buf);
    });
  }),
).catch(fail);
