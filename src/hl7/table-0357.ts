/**
 * HL7 table 0357, message error condition codes: ERR-3 (v2.5 on) or ERR-1.4 (before) of an ACK,
 * saying why a message was refused or failed.
 */
export const ERR_SUCCESS = 0;
export const ERR_SEGMENT_SEQUENCE = 100;
export const ERR_REQUIRED_FIELD_MISSING = 101;
export const ERR_DATA_TYPE = 102;
export const ERR_TABLE_VALUE_NOT_FOUND = 103;
/** From v2.7 on; earlier versions say 102 for a value over its length (see bounds.ts). */
export const ERR_VALUE_TOO_LONG = 104;
export const ERR_UNSUPPORTED_MESSAGE_TYPE = 200;
export const ERR_UNSUPPORTED_EVENT_CODE = 201;
export const ERR_UNSUPPORTED_PROCESSING_ID = 202;
export const ERR_UNSUPPORTED_VERSION_ID = 203;
export const ERR_UNKNOWN_KEY_IDENTIFIER = 204;
export const ERR_DUPLICATE_KEY_IDENTIFIER = 205;
export const ERR_APPLICATION_RECORD_LOCKED = 206;
/** Also the answer when no code of the table fits (an unknown sender, storage unavailable). */
export const ERR_APPLICATION_INTERNAL = 207;
