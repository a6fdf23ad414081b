/**
 * Which charset decodes a message's bytes, by the first rule that applies: 1. a BOM, 2. MSH-18
 * (HL7 table 0211), 3. the bytes are valid UTF-8, 4. the channel's fallback (README, "Charset,
 * per message"). Reads the bytes only; the text repairs happen afterwards in decode-message.ts.
 */
import { isAscii, isUtf8 } from 'node:buffer';
import { detectBom } from './bom.js';
import { decodeBytes, resolveCharset } from './codec.js';
import { readMsh18Field, type Msh18 } from './msh18.js';
import { charsetFamily, hl7CharsetToIconv, isKnownWithoutDecoder } from './table-0211.js';
import type { CharsetDecision, CharsetFailure, CharsetSource, Repair } from './types.js';
import { firstInvalidUtf8Offset } from './utf8-offset.js';

export interface CharsetChoice {
  readonly ok: true;
  readonly decision: CharsetDecision;
  /** Bytes of BOM to skip before decoding. */
  readonly skip: number;
  /** All bytes are 7-bit, so no double-encoded UTF-8 can be in the text. */
  readonly ascii: boolean;
  readonly repairs: Repair[];
}

/**
 * The decision of a refused message. Nothing was decoded; the charset is the one its NAK can be
 * written in without guessing (the ingest stage encodes the ACK with decision.charset).
 */
const REFUSED = (declared: string): CharsetDecision => ({ source: 'fallback', charset: 'us-ascii', declared });

/** isAscii/isUtf8 of the whole message, each computed at most once. */
class ByteFacts {
  private ascii: boolean | undefined;
  private utf8: boolean | undefined;
  constructor(readonly bytes: Buffer) {}
  /** Whether isAscii already ran and said yes; never triggers a scan of its own. */
  isAsciiKnown(): boolean {
    return this.ascii === true;
  }
  isAscii(): boolean {
    this.ascii ??= isAscii(this.bytes);
    return this.ascii;
  }
  isUtf8(): boolean {
    // isAscii costs about what isUtf8 does, answers it for most messages, and lets
    // decode-message.ts skip the mojibake scan.
    this.utf8 ??= this.isAscii() || isUtf8(this.bytes);
    return this.utf8;
  }
}

function countReplacements(text: string): number {
  let n = 0;
  for (let i = text.indexOf('\uFFFD'); i >= 0; i = text.indexOf('\uFFFD', i + 1)) n += 1;
  return n;
}

/** Why the bytes cannot be in the declared charset, or null when they can. */
function contradiction(facts: ByteFacts, charset: string): string | null {
  switch (charsetFamily(charset)) {
    case 'utf-8':
      return facts.isUtf8() ? null : 'the bytes are not valid UTF-8';
    case 'ascii':
    case 'iso-2022':
      return facts.isAscii() ? null : 'the bytes include 8-bit values, which this 7-bit charset cannot have';
    case 'single-byte':
      return !facts.isAscii() && facts.isUtf8() ? 'the bytes are valid non-ASCII UTF-8' : null;
    case 'wide':
      return 'MSH-18 was readable as single-byte text, so the message is not UTF-16/UTF-32';
    case 'multi-byte': {
      // Short runs of CJK double-byte text can happen to be valid UTF-8 too; only call the
      // declaration wrong when the declared decoder also fails on bytes UTF-8 accepts.
      if (facts.isAscii() || !facts.isUtf8()) return null;
      const declaredBad = countReplacements(decodeBytes(facts.bytes, charset));
      const utf8Bad = countReplacements(facts.bytes.toString('utf8'));
      return declaredBad > utf8Bad ? 'the bytes are valid UTF-8 but invalid in the declared charset' : null;
    }
  }
}

/**
 * An empty default with ISO IR87/IR159 as an alternate ("~ISO IR87") is how HL7 sends kanji
 * through ISO 2022 escapes in an otherwise ASCII message; ISO-2022-JP decoding of the ASCII part
 * is the identity, so the whole message is decoded that way when escapes are present.
 */
function usesIso2022Alternate(msh18: Msh18, first: string | null, bytes: Buffer): boolean {
  if (first !== null && first !== 'us-ascii') return false;
  return (
    msh18.repetitions.slice(1).some((r) => hl7CharsetToIconv(r) === 'iso-2022-jp') && bytes.indexOf(0x1b) >= 0
  );
}

export function chooseCharset(bytes: Buffer, fallback: string): CharsetChoice | CharsetFailure {
  const bom = detectBom(bytes);
  if (bom) {
    // UTF-16/32 bytes are not ASCII-safe; decode-message.ts reads MSH-18 from the text instead.
    const declared = bom.charset === 'utf-8' ? readMsh18Field(bytes).value : '';
    return {
      ok: true,
      decision: { source: 'bom', charset: bom.charset, declared },
      skip: bom.length,
      ascii: false,
      repairs: [
        { kind: 'bom-removed', count: 1, detail: `${bom.charset} byte order mark (${bom.length} bytes) removed` },
      ],
    };
  }

  const facts = new ByteFacts(bytes);
  const msh18 = readMsh18Field(bytes);
  const declared = msh18.value;
  const repairs: Repair[] = [];
  const first = msh18.repetitions[0] ?? '';
  const firstCharset = first === '' ? null : hl7CharsetToIconv(first);
  const chosen = (source: CharsetSource, charset: string): CharsetChoice => ({
    ok: true,
    decision: { source, charset, declared },
    skip: 0,
    ascii: facts.isAsciiKnown(),
    repairs,
  });

  if (declared !== '' && usesIso2022Alternate(msh18, firstCharset, bytes) && facts.isAscii()) {
    return chosen('msh18', 'iso-2022-jp');
  }
  if (first !== '' && firstCharset === null) {
    repairs.push({
      kind: 'unknown-declared-charset',
      count: 1,
      detail: isKnownWithoutDecoder(first)
        ? 'MSH-18 names CNS 11643-1992 (EUC-TW), which has no decoder here; charset decided from the bytes'
        : `MSH-18 first repetition (${first.length} chars) is not an HL7 table 0211 value; ` +
          'charset decided from the bytes',
    });
  } else if (firstCharset !== null) {
    const why = contradiction(facts, firstCharset);
    if (why === null) {
      return chosen('msh18', firstCharset);
    }
    repairs.push({
      kind: 'declared-charset-contradicted',
      count: 1,
      detail: `MSH-18 declares ${firstCharset} but ${why}; charset decided from the bytes`,
    });
  }

  if (facts.isUtf8()) {
    return chosen('utf8-valid', 'utf-8');
  }

  if (fallback.trim().toLowerCase() === 'reject') {
    const offset = firstInvalidUtf8Offset(bytes);
    const declaredNote =
      declared === ''
        ? 'MSH-18 declares no charset'
        : repairs[0]?.kind === 'declared-charset-contradicted'
          ? `MSH-18 declares ${firstCharset ?? 'a charset'} but the bytes contradict it`
          : 'MSH-18 names no usable charset';
    return {
      ok: false,
      category: 'charset',
      message:
        `bytes are not valid UTF-8 (first invalid sequence at byte offset ${offset}), ${declaredNote}, ` +
        `and the channel's charset fallback is "reject"; set a fallback charset for this channel ` +
        'or have the sender declare the charset it really uses in MSH-18',
      decision: REFUSED(declared),
    };
  }
  const fallbackCharset = resolveCharset(fallback);
  if (fallbackCharset === null) {
    return {
      ok: false,
      category: 'charset',
      message:
        `bytes are not valid UTF-8 and the channel's charset fallback "${fallback}" ` +
        'is not a supported charset; fix the channel setting',
      decision: REFUSED(declared),
    };
  }
  return chosen('fallback', fallbackCharset);
}
