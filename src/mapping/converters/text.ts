/**
 * ST / TX / ID / IS → string (escapes undone), FT → string with its formatting commands
 * rendered as plain text (v2 chapter 2.7.6), since FHIR strings carry no markup.
 */
import type { ConverterContext, V2Value } from '../types.js';
import { unescapeValue } from '../../hl7/escape.js';
import { type Args } from './context.js';

/**
 * Trailing whitespace never means anything and whitespace-only strings are invalid FHIR; leading
 * spaces are kept (TX and FT indent with them). HL7 `""` is the explicit null: nothing.
 */
function finish(s: string): string | undefined {
  const t = s.trimEnd();
  return t.trim() === '' || t === '""' ? undefined : t;
}

export function text(value: V2Value, _args: Args, _ctx: ConverterContext): string | undefined {
  return finish(value.text);
}

const FORMAT = /^\.(sp|br|fi|nf|in|ti|sk|ce)\s*([+-]?\d+)?\s*$/;

/** The plain-text rendering of one formatting command, or null when it is not one. */
function renderCommand(body: string): string | null {
  const m = FORMAT.exec(body);
  if (m === null) return null;
  const n = m[2] === undefined ? undefined : Number(m[2]);
  switch (m[1]) {
    case 'br':
      return '\n';
    case 'sp': // end the line, then skip n lines (1 when not given)
      return '\n'.repeat(1 + Math.max(n ?? 1, 0));
    case 'in': // indent / temporary indent by n spaces
    case 'ti':
    case 'sk': // skip n spaces to the right
      return ' '.repeat(Math.max(n ?? 0, 0));
    case 'ce': // centre the next line: the line break is what survives in plain text
      return '\n';
    default: // .fi / .nf: fill mode on and off, nothing to show
      return '';
  }
}

/**
 * Replaces formatting commands in the raw text with their rendering, then undoes the ordinary
 * escapes. The renderings are plain characters, so the remaining escape pairs stay aligned.
 */
export function renderFormatted(raw: string, value: V2Value): string {
  const esc = value.delimiters.escape;
  if (esc === '' || !raw.includes(`${esc}.`)) return unescapeValue(raw, value.delimiters);
  let out = '';
  let copied = 0;
  let open = raw.indexOf(esc);
  while (open >= 0) {
    const close = raw.indexOf(esc, open + 1);
    if (close < 0) break;
    const rendered = raw.charAt(open + 1) === '.' ? renderCommand(raw.slice(open + 1, close)) : null;
    if (rendered !== null) {
      out += raw.slice(copied, open) + rendered;
      copied = close + 1;
    }
    open = raw.indexOf(esc, close + 1);
  }
  return unescapeValue(out + raw.slice(copied), value.delimiters);
}

export function ft(value: V2Value, _args: Args, _ctx: ConverterContext): string | undefined {
  return finish(renderFormatted(value.raw, value));
}
