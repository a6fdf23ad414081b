export { MLLP_START, MLLP_END, MLLP_TRAILER, MllpSendError, type MllpSendErrorCode } from './types.js';
export { MllpFramer, OVERSIZE_HEAD_BYTES, encodeFrame, frameParts, type FrameSink, type MllpFramerOptions } from './framer.js';
export { MllpSender, readControlId, parseAck, type SendOptions, type AckReceived } from './sender.js';
export { MllpListener, type FrameHandler, type FrameAnswer, type FrameContext, type IncompleteReason, type ListenerOptions, type ListenerEvents, type ListenerTls, type TlsMinVersion } from './listener.js';
export { splitMessagesInFile } from './split-file.js';
