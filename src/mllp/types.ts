/**
 * MLLP envelope bytes (HL7 v2.x Implementation Guide, Appendix C): a block is
 * <VT> payload <FS><CR>. The payload is raw bytes in whatever charset the sender used; nothing
 * in the MLLP layer decodes it.
 */
export const MLLP_START = 0x0b; // VT
export const MLLP_END = 0x1c; // FS
export const MLLP_TRAILER = 0x0d; // CR

/** Why a send failed, stable for callers and metrics; the message text is for people. */
export type MllpSendErrorCode =
  | 'no-control-id' // the message has no readable MSH-10, so no ACK could ever be matched to it
  | 'ack-timeout' // connected and sent, but no ACK with our MSH-10 arrived in time
  | 'connection-failed' // every attempt (first try plus retries) lost or could not open the connection
  | 'closed'; // close() was called before the ACK arrived

/** A failed send. Carries counts, codes and the peer address, never message content. */
export class MllpSendError extends Error {
  override readonly name = 'MllpSendError';
  readonly code: MllpSendErrorCode;
  /** How many times the message was written to a connection (0 when it never was). */
  readonly attempts: number;

  constructor(code: MllpSendErrorCode, message: string, attempts: number, cause?: unknown) {
    super(message, cause === undefined ? undefined : { cause });
    this.code = code;
    this.attempts = attempts;
  }
}
