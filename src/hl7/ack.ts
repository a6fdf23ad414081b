/**
 * Building HL7 acknowledgments (ACK messages: MSH, MSA, ERR) and choosing their MSA-1 code, in
 * original and enhanced mode. The MLLP layer only frames and sends the bytes.
 */
import { randomBytes } from 'node:crypto';
import type { Delimiters, MshSummary } from './types.js';

/** MSA-1 (HL7 table 0008): A* original mode, C* enhanced mode (commit acknowledgment). */
export type AckCode = 'AA' | 'AE' | 'AR' | 'CA' | 'CE' | 'CR';
/** What the engine decided about a message, independent of the acknowledgment mode. */
export type AckOutcome = 'accepted' | 'error' | 'rejected';
/** 'auto' follows the inbound message: enhanced when it filled MSH-15 or MSH-16. */
export type AckMode = 'original' | 'enhanced' | 'auto';
export type ErrorSeverity = 'E' | 'W' | 'F' | 'I';

export interface AckErrorLocation {
  readonly segment: string;
  readonly sequence?: number;
  readonly field?: number;
  readonly component?: number;
}

export interface AckError {
  readonly code: number; // HL7 table 0357 (table-0357.ts)
  readonly severity: ErrorSeverity;
  readonly text: string; // for people; must not contain PHI
  readonly location?: AckErrorLocation;
}

export interface AckRequest {
  /** The inbound MSH, or null when the frame could not be parsed that far. */
  readonly inbound: MshSummary | null;
  /** The inbound message's delimiters (DEFAULT_DELIMITERS when unknown). */
  readonly delimiters: Delimiters;
  readonly outcome: AckOutcome;
  readonly mode: AckMode;
  /**
   * MSA-1 when it is not simply ackCodeFor(outcome, mode, inbound): ingest answers "storage
   * unavailable" with AE in original mode but CR in enhanced mode, so the sender resends.
   */
  readonly code?: AckCode;
  readonly error?: AckError;
  /** MSA-3, for people; must not contain PHI. */
  readonly text?: string;
  /** Our own MSH-10 for the ACK, see newControlId(). */
  readonly controlId: string;
  readonly now: Date;
  /** Our names, used for MSH-3/4 when the inbound MSH-5/6 are empty (taken as plain text). */
  readonly sendingApplication?: string;
  readonly sendingFacility?: string;
}

const DEFAULT_PROCESSING_ID = 'P';
const DEFAULT_VERSION = '2.5.1';

function isEnhanced(mode: AckMode, inbound: MshSummary | null): boolean {
  if (mode === 'enhanced') return true;
  if (mode === 'original' || inbound === null) return false;
  return inbound.acceptAckType.trim() !== '' || inbound.applicationAckType.trim() !== '';
}

/** MSA-1 for an outcome: original mode AA/AE/AR, enhanced mode CA/CE/CR. */
export function ackCodeFor(outcome: AckOutcome, mode: AckMode, inbound: MshSummary | null): AckCode {
  const enhanced = isEnhanced(mode, inbound);
  switch (outcome) {
    case 'accepted':
      return enhanced ? 'CA' : 'AA';
    case 'error':
      return enhanced ? 'CE' : 'AE';
    case 'rejected':
      return enhanced ? 'CR' : 'AR';
  }
}

/**
 * Whether the sender asked for this acknowledgment. Original mode always answers. Enhanced mode
 * follows MSH-15 (HL7 table 0155): AL or empty always, NE never, ER only for errors and
 * rejections, SU only for success. A value outside the table answers, because an unanswered
 * sender would wait and resend forever.
 */
export function shouldSendAck(outcome: AckOutcome, mode: AckMode, inbound: MshSummary | null): boolean {
  if (!isEnhanced(mode, inbound) || inbound === null) return true;
  switch (inbound.acceptAckType.trim().toUpperCase()) {
    case 'NE':
      return false;
    case 'ER':
      return outcome !== 'accepted';
    case 'SU':
      return outcome === 'accepted';
    default:
      return true;
  }
}

/**
 * The ACK message as text: segments joined by CR, ending with CR. The caller encodes it in the
 * inbound charset and wraps it in MLLP. Values copied "as sent" from the inbound MSH (MSH-3..6,
 * MSH-11, MSH-18) keep their components; everything else is escaped with the inbound delimiters.
 */
export function buildAck(req: AckRequest): string {
  const d = req.delimiters;
  const f = d.field;
  const inbound = req.inbound;
  const code = req.code ?? ackCodeFor(req.outcome, req.mode, inbound);

  const sendingApp = nonEmpty(inbound?.receivingApplication) ?? escapeValue(req.sendingApplication ?? '', d);
  const sendingFac = nonEmpty(inbound?.receivingFacility) ?? escapeValue(req.sendingFacility ?? '', d);
  const trigger = inbound?.triggerEvent ?? '';
  const messageType =
    trigger === '' ? 'ACK' : `ACK${d.component}${echo(trigger, d)}${d.component}ACK`;

  const msh: string[] = [
    'MSH',
    encodingCharacters(d),
    asSent(sendingApp, d),
    asSent(sendingFac, d),
    asSent(inbound?.sendingApplication ?? '', d),
    asSent(inbound?.sendingFacility ?? '', d),
    formatTimestamp(req.now),
    '',
    messageType,
    escapeValue(req.controlId, d),
    asSent(nonEmpty(inbound?.processingId) ?? DEFAULT_PROCESSING_ID, d),
    echo(nonEmpty(inbound?.version) ?? DEFAULT_VERSION, d),
  ];
  const charset = inbound?.characterSet ?? '';
  if (charset !== '') msh.push('', '', '', '', '', asSent(charset, d));
  // MSH-1 is the field separator itself, so "MSH" and MSH-2 are joined by one separator.
  let out = msh.join(f) + '\r';

  const msa = ['MSA', code, echo(inbound?.controlId ?? '', d)];
  if (req.text !== undefined && req.text !== '') msa.push(escapeValue(req.text, d));
  out += msa.join(f) + '\r';

  if (req.error !== undefined) {
    const version = nonEmpty(inbound?.version) ?? DEFAULT_VERSION;
    out += (usesErl(version) ? errV25(req.error, d) : errV2x(req.error, d)) + '\r';
  }
  return out;
}

function nonEmpty(s: string | undefined): string | undefined {
  return s === undefined || s === '' ? undefined : s;
}

function encodingCharacters(d: Delimiters): string {
  return d.component + d.repetition + d.escape + d.subcomponent + (d.truncation ?? '');
}

/** ERR from v2.5 on: ERR-2 location (ERL), ERR-3 condition (CWE, table 0357), ERR-4 severity. */
function errV25(e: AckError, d: Delimiters): string {
  const c = d.component;
  const loc = e.location;
  const erl =
    loc === undefined
      ? ''
      : trimTrailing(
          [escapeValue(loc.segment, d), num(loc.sequence), num(loc.field), '', num(loc.component)],
          c,
        );
  const cwe = `${e.code}${c}${escapeValue(e.text, d)}${c}HL70357`;
  return ['ERR', '', erl, cwe, e.severity].join(d.field);
}

/** ERR-1 for v2.1-2.4: ELD = segment^sequence^field^code&text&HL70357 (no severity, no component). */
function errV2x(e: AckError, d: Delimiters): string {
  const c = d.component;
  const s = d.subcomponent;
  const loc = e.location;
  // Without a subcomponent separator (a three-character MSH-2) ERR-1.4 cannot hold its parts:
  // the code alone, rather than code, text and table run together into one unreadable value.
  const ce = s === '' ? String(e.code) : `${e.code}${s}${escapeValue(e.text, d)}${s}HL70357`;
  const eld = [escapeValue(loc?.segment ?? '', d), num(loc?.sequence), num(loc?.field), ce].join(c);
  return ['ERR', eld].join(d.field);
}

function num(n: number | undefined): string {
  return n === undefined || !Number.isFinite(n) ? '' : String(Math.trunc(n));
}

function trimTrailing(parts: string[], sep: string): string {
  let end = parts.length;
  while (end > 0 && parts[end - 1] === '') end--;
  return parts.slice(0, end).join(sep);
}

/** ERR-2/ERR-3 exist from v2.5; anything unreadable is treated like our default, 2.5.1. */
function usesErl(version: string): boolean {
  const m = /^(\d+)\.(\d+)/.exec(version.trim());
  if (m === null) return true;
  const major = Number(m[1]);
  const minor = Number(m[2]);
  return major > 2 || (major === 2 && minor >= 5);
}

/**
 * A value read from the inbound message, written back so that the sender reads the same value:
 * escaped with the message's escape character when it has one. A message whose MSH-2 has no
 * escape character (three encoding characters) has no escapes at all, so the parsed value is the
 * text as sent, delimiters included ("ADT^01" in MSH-10), and goes back as sent: escaping it
 * would put bare sequence letters in its place ("ADTS01").
 */
function echo(value: string, d: Delimiters): string {
  return d.escape === '' ? asSent(value, d) : escapeValue(value, d);
}

/** What stands for a character that must not appear and cannot be escaped (no escape character). */
const UNESCAPABLE = ' ';

/**
 * HL7 escaping of one value with the message's own delimiters. CR and LF become hex escapes so a
 * value can never end the segment early. Without an escape character (a three-character MSH-2)
 * nothing can be escaped: each delimiter and line break in our own text becomes a space, so the
 * text never adds a component or a field.
 */
function escapeValue(value: string, d: Delimiters): string {
  if (d.escape === '') return replaceEach(value, (ch) => ch === d.field || ch === d.component || ch === d.repetition || ch === d.subcomponent || ch === d.truncation || ch === '\r' || ch === '\n');
  let out = '';
  let from = 0;
  for (let i = 0; i < value.length; i++) {
    const ch = value[i];
    let rep: string | undefined;
    if (ch === d.escape) rep = 'E';
    else if (ch === d.field) rep = 'F';
    else if (ch === d.component) rep = 'S';
    else if (ch === d.repetition) rep = 'R';
    else if (ch === d.subcomponent) rep = 'T';
    else if (d.truncation !== null && ch === d.truncation) rep = 'P';
    else if (ch === '\r') rep = 'X0D';
    else if (ch === '\n') rep = 'X0A';
    if (rep !== undefined) {
      out += value.slice(from, i) + d.escape + rep + d.escape;
      from = i + 1;
    }
  }
  return from === 0 ? value : out + value.slice(from);
}

/**
 * A field copied from the inbound message as sent: its components, repetitions and escapes are
 * already in the inbound encoding and stay. Only what could break the ACK's structure (the field
 * separator, segment terminators) is escaped; a parsed field cannot contain them anyway.
 */
function asSent(value: string, d: Delimiters): string {
  if (d.escape === '') return replaceEach(value, (ch) => ch === d.field || ch === '\r' || ch === '\n');
  let out = '';
  let from = 0;
  for (let i = 0; i < value.length; i++) {
    const ch = value[i];
    const rep = ch === d.field ? 'F' : ch === '\r' ? 'X0D' : ch === '\n' ? 'X0A' : undefined;
    if (rep !== undefined) {
      out += value.slice(from, i) + d.escape + rep + d.escape;
      from = i + 1;
    }
  }
  return from === 0 ? value : out + value.slice(from);
}

/** `value` with each character `bad` picks replaced by UNESCAPABLE. */
function replaceEach(value: string, bad: (ch: string) => boolean): string {
  let out = '';
  let from = 0;
  for (let i = 0; i < value.length; i++) {
    if (bad(value[i]!)) {
      out += value.slice(from, i) + UNESCAPABLE;
      from = i + 1;
    }
  }
  return from === 0 ? value : out + value.slice(from);
}

/** DTM with milliseconds and the process's UTC offset: YYYYMMDDHHMMSS.SSS+ZZZZ. */
export function formatTimestamp(now: Date): string {
  const offsetMin = -now.getTimezoneOffset();
  const sign = offsetMin < 0 ? '-' : '+';
  const abs = Math.abs(offsetMin);
  return (
    pad(now.getFullYear(), 4) +
    pad(now.getMonth() + 1, 2) +
    pad(now.getDate(), 2) +
    pad(now.getHours(), 2) +
    pad(now.getMinutes(), 2) +
    pad(now.getSeconds(), 2) +
    '.' +
    pad(now.getMilliseconds(), 3) +
    sign +
    pad(Math.floor(abs / 60), 2) +
    pad(abs % 60, 2)
  );
}

function pad(n: number, width: number): string {
  return String(n).padStart(width, '0');
}

// Control ids: 9 chars of milliseconds + 4 chars of per-process counter + 7 random chars = 20,
// the ST length of MSH-10 in v2.3-2.5. Time first keeps ids sortable by creation within a
// process; the random tail (36^7 ≈ 7.8e10) separates processes and restarts that share a
// millisecond and counter value.
const TIME_WIDTH = 9;
const COUNTER_WIDTH = 4;
const COUNTER_LIMIT = 36 ** COUNTER_WIDTH;
const RANDOM_WIDTH = 7;
const ALPHABET = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ';

let lastMillis = 0;
let counter = 0;
let pool = Buffer.alloc(0);
let poolAt = 0;

function randomChar(): string {
  for (;;) {
    if (poolAt >= pool.length) {
      pool = randomBytes(4096);
      poolAt = 0;
    }
    const b = pool[poolAt++] ?? 0;
    // 252 = 7 * 36: rejecting the top 4 values keeps every character equally likely.
    if (b < 252) return ALPHABET[b % 36] ?? '0';
  }
}

/** A new MSH-10 for an ACK: unique across processes and restarts, time-ordered, 20 characters. */
export function newControlId(): string {
  const now = Date.now();
  // A clock that steps back must not reorder or repeat (time, counter) pairs in this process.
  if (now > lastMillis) {
    lastMillis = now;
    counter = 0;
  } else if (++counter >= COUNTER_LIMIT) {
    lastMillis++;
    counter = 0;
  }
  let id =
    lastMillis.toString(36).toUpperCase().padStart(TIME_WIDTH, '0') +
    counter.toString(36).toUpperCase().padStart(COUNTER_WIDTH, '0');
  for (let k = 0; k < RANDOM_WIDTH; k++) id += randomChar();
  return id;
}
