/**
 * One message's bytes → text: the charset rules (detect.ts), then the text repairs, each recorded
 * so the envelope and metrics can show what was changed. Never throws.
 *
 * The common case (no BOM, valid UTF-8, CR terminators, MSH first) costs one isUtf8 pass, one
 * toString and a few indexOf/regex scans that find nothing.
 */
import { chooseCharset } from './detect.js';
import { decodeBytes } from './codec.js';
import { repairDoubleEncodedUtf8 } from './double-encoded-utf8.js';
import { removeJunkBeforeHeader } from './junk-before-msh.js';
import { readMsh18FieldFromText } from './msh18.js';
import { removeNulBytes } from './nul-bytes.js';
import { normaliseTerminators } from './terminators.js';
import type { CharsetDecision, CharsetOptions, DecodeResult, Repair } from './types.js';

export const DEFAULT_CHARSET_OPTIONS: CharsetOptions = Object.freeze({ fallback: 'windows-1252' });

/** Charsets whose text can hold double-encoded UTF-8 that maps back through windows-1252/latin1. */
const MOJIBAKE_PRONE: ReadonlySet<string> = new Set(['utf-8', 'windows-1252', 'iso-8859-1']);

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

export function decodeMessage(bytes: Buffer, options: CharsetOptions = DEFAULT_CHARSET_OPTIONS): DecodeResult {
  const choice = chooseCharset(bytes, options.fallback || DEFAULT_CHARSET_OPTIONS.fallback);
  if (!choice.ok) return choice;

  let decision: CharsetDecision = choice.decision;
  const repairs: Repair[] = choice.repairs;
  let text = decodeBytes(choice.skip > 0 ? bytes.subarray(choice.skip) : bytes, decision.charset);
  if (decision.source === 'bom' && decision.charset !== 'utf-8') {
    decision = { ...decision, declared: readMsh18FieldFromText(text).value };
  }

  const nul = removeNulBytes(text);
  if (nul) {
    text = nul.text;
    repairs.push({ kind: 'nul-bytes', count: nul.count, detail: `${plural(nul.count, 'NUL character')} removed` });
  }

  const junk = removeJunkBeforeHeader(text);
  if (junk) {
    text = junk.text;
    repairs.push({
      kind: 'junk-before-msh',
      count: junk.count,
      detail: `${plural(junk.count, 'character')} before the first header segment removed`,
    });
  }

  const terminators = normaliseTerminators(text);
  if (terminators) {
    text = terminators.text;
    if (terminators.crlf > 0) {
      repairs.push({
        kind: 'crlf-terminators',
        count: terminators.crlf,
        detail: `${plural(terminators.crlf, 'CRLF segment terminator')} replaced by CR`,
      });
    }
    if (terminators.lf > 0) {
      repairs.push({
        kind: 'lf-terminators',
        count: terminators.lf,
        detail: `${plural(terminators.lf, 'LF segment terminator')} replaced by CR`,
      });
    }
  }

  if (!choice.ascii && MOJIBAKE_PRONE.has(decision.charset)) {
    const mojibake = repairDoubleEncodedUtf8(text);
    if (mojibake) {
      text = mojibake.text;
      repairs.push({
        kind: 'double-encoded-utf8',
        count: mojibake.count,
        detail:
          `${plural(mojibake.count, 'character')} restored from ` +
          plural(mojibake.runs, 'double-encoded UTF-8 run'),
      });
    }
  }

  return { ok: true, text, decision, repairs };
}
