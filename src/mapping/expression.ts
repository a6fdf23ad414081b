/**
 * The small expression language of mapping files. Deliberately not a scripting language:
 *
 *   value   := alt ( "|" pipe )*
 *   alt     := term ( "??" term )*            first term that yields a non-empty value
 *   term    := path | "@" sub* | 'literal' | number | func "(" args ")" | "(" value ")"
 *   path    := SEG ("[" n|* "]")? "-" F ("[" n|* "]")? ("." C ("." S)?)?     e.g. PID-3[*], OBX[2]-5.1
 *   pipe    := name ( "(" args ")" )?         a converter (cx, xpn, ts, code(hl7-0001), …)
 *   args    := arg ("," arg)*;  arg := (name ":")? (value | bareword)
 *   cond    := or;  or := and ("or" and)*;  and := not ("and" not)*;  not := "not" not | cmp
 *   cmp     := value (("==" | "!=" | ">" | "<" | ">=" | "<=") value | "in" "[" value, … "]")?
 * Functions: present(v), empty(v), count(v), key(resourceName), len(v).
 * Parsing happens once, at load; a syntax error names the column in the expression.
 */

export interface PathRef {
  readonly kind: 'path';
  readonly segment: string;
  /** Segment occurrence in scope: 1-based, 0 = all ("*"). */
  readonly occurrence: number;
  readonly field: number;
  /** Field repetition: 1-based, 0 = all. Undefined = the first (HL7's default). */
  readonly repetition: number | undefined;
  readonly component?: number;
  readonly subcomponent?: number;
  readonly text: string;
  /** The segment-relative path of every repetition ("5[*]"), built once at load. */
  readonly allRepetitions: string;
}

export interface CurrentRef {
  readonly kind: 'current';
  readonly component?: number;
  readonly subcomponent?: number;
}

export interface Literal {
  readonly kind: 'literal';
  readonly value: string;
}

export interface Call {
  readonly kind: 'call';
  readonly name: string;
  readonly args: readonly Arg[];
}

export interface Alt {
  readonly kind: 'alt';
  readonly options: readonly Expr[];
}

export interface Pipe {
  readonly kind: 'pipe';
  readonly input: Expr;
  readonly converter: string;
  readonly args: readonly Arg[];
}

export interface Compare {
  readonly kind: 'compare';
  readonly op: '==' | '!=' | '>' | '<' | '>=' | '<=' | 'in';
  readonly left: Expr;
  readonly right: readonly Expr[];
}

export interface Logic {
  readonly kind: 'and' | 'or';
  readonly terms: readonly Expr[];
}

export interface Not {
  readonly kind: 'not';
  readonly term: Expr;
}

export type Expr = PathRef | CurrentRef | Literal | Call | Alt | Pipe | Compare | Logic | Not;

export interface Arg {
  readonly name: string | null;
  readonly value: Expr;
}

export class ExpressionError extends Error {
  readonly column: number;
  constructor(message: string, column: number) {
    super(message);
    this.name = 'ExpressionError';
    this.column = column;
  }
}

const PATH = /^([A-Z][A-Z0-9]{2})(?:\[(\d+|\*)\])?-(\d+)(?:\[(\d+|\*)\])?(?:\.(\d+)(?:\.(\d+))?)?/;
const CURRENT = /^@(?:\.(\d+)(?:\.(\d+))?)?/;
const NAME = /^[A-Za-z_][A-Za-z0-9_]*/;
const BAREWORD = /^[A-Za-z0-9_][A-Za-z0-9_\-./:]*/;
const NUMBER = /^-?\d+(?:\.\d+)?(?![A-Za-z0-9_\-])/;

class Parser {
  private pos = 0;
  constructor(private readonly src: string) {}

  /** Throws for the character at `at` (default: where parsing stands), 0-based. */
  fail(msg: string, at = this.pos): never {
    throw new ExpressionError(`${msg} at column ${at + 1} of "${this.src}"`, at + 1);
  }

  private ws(): void {
    while (this.pos < this.src.length && /\s/.test(this.src[this.pos]!)) this.pos++;
  }

  private peek(s: string): boolean {
    this.ws();
    return this.src.startsWith(s, this.pos);
  }

  private peekWord(w: string): boolean {
    this.ws();
    if (!this.src.startsWith(w, this.pos)) return false;
    const next = this.src[this.pos + w.length];
    return next === undefined || !/[A-Za-z0-9_]/.test(next);
  }

  private eat(s: string): void {
    if (!this.peek(s)) this.fail(`expected "${s}"`);
    this.pos += s.length;
  }

  done(): void {
    this.ws();
    if (this.pos < this.src.length) this.fail(`unexpected "${this.src.slice(this.pos, this.pos + 10)}"`);
  }

  value(): Expr {
    let e = this.alt();
    while (this.peek('|') && !this.peek('||')) {
      this.pos++;
      this.ws();
      const m = NAME.exec(this.src.slice(this.pos));
      if (!m) this.fail('expected a converter name after "|"');
      this.pos += m[0].length;
      const args = this.peek('(') ? this.args() : [];
      e = { kind: 'pipe', input: e, converter: m[0], args };
    }
    return e;
  }

  private alt(): Expr {
    const options = [this.term()];
    while (this.peek('??')) {
      this.pos += 2;
      options.push(this.term());
    }
    return options.length === 1 ? options[0]! : { kind: 'alt', options };
  }

  private args(): Arg[] {
    this.eat('(');
    const out: Arg[] = [];
    if (this.peek(')')) {
      this.pos++;
      return out;
    }
    for (;;) {
      this.ws();
      let name: string | null = null;
      const m = /^([A-Za-z_][A-Za-z0-9_]*)\s*:(?!\/)/.exec(this.src.slice(this.pos));
      if (m) {
        name = m[1]!;
        this.pos += m[0].length;
      }
      out.push({ name, value: this.argValue() });
      if (this.peek(',')) {
        this.pos++;
        continue;
      }
      this.eat(')');
      return out;
    }
  }

  /** An argument: a full value, or a bareword such as MR or hl7-0001 taken literally. */
  private argValue(): Expr {
    this.ws();
    const rest = this.src.slice(this.pos);
    if (PATH.test(rest) || rest.startsWith('@') || rest.startsWith("'") || rest.startsWith('(') || /^[A-Za-z_][A-Za-z0-9_]*\(/.test(rest)) {
      return this.value();
    }
    const m = BAREWORD.exec(rest);
    if (!m) this.fail('expected an argument');
    this.pos += m[0].length;
    return { kind: 'literal', value: m[0] };
  }

  private term(): Expr {
    this.ws();
    const rest = this.src.slice(this.pos);
    let m = PATH.exec(rest);
    if (m) {
      const start = this.pos;
      this.pos += m[0].length;
      const occ = m[2] === undefined ? 1 : m[2] === '*' ? 0 : Number(m[2]);
      const rep = m[4] === undefined ? undefined : m[4] === '*' ? 0 : Number(m[4]);
      // 0 stands for "*" inside the model, so a written 0 must not slip through as "all".
      if ([m[2], m[3], m[4], m[5], m[6]].some((n) => n !== undefined && n !== '*' && Number(n) === 0)) {
        this.fail('positions in a path are 1-based', start);
      }
      return {
        kind: 'path',
        segment: m[1]!,
        occurrence: occ,
        field: Number(m[3]),
        allRepetitions: `${Number(m[3])}[*]`,
        repetition: rep,
        ...(m[5] !== undefined ? { component: Number(m[5]) } : {}),
        ...(m[6] !== undefined ? { subcomponent: Number(m[6]) } : {}),
        text: m[0],
      };
    }
    m = CURRENT.exec(rest);
    if (m) {
      this.pos += m[0].length;
      return {
        kind: 'current',
        ...(m[1] !== undefined ? { component: Number(m[1]) } : {}),
        ...(m[2] !== undefined ? { subcomponent: Number(m[2]) } : {}),
      };
    }
    if (rest.startsWith("'")) {
      const end = this.src.indexOf("'", this.pos + 1);
      if (end < 0) this.fail('unterminated quoted text');
      const value = this.src.slice(this.pos + 1, end);
      this.pos = end + 1;
      return { kind: 'literal', value };
    }
    m = NUMBER.exec(rest);
    if (m) {
      this.pos += m[0].length;
      return { kind: 'literal', value: m[0] };
    }
    if (rest.startsWith('(')) {
      this.pos++;
      const inner = this.cond();
      this.eat(')');
      return inner;
    }
    m = NAME.exec(rest);
    if (m && this.src[this.pos + m[0].length] === '(') {
      this.pos += m[0].length;
      const name = m[0];
      if (name === 'not') {
        this.eat('(');
        const term = this.cond();
        this.eat(')');
        return { kind: 'not', term };
      }
      return { kind: 'call', name, args: this.args() };
    }
    this.fail('expected a path (e.g. PID-3), @, a quoted text or a function');
  }

  cond(): Expr {
    const terms = [this.andExpr()];
    while (this.peekWord('or')) {
      this.pos += 2;
      terms.push(this.andExpr());
    }
    return terms.length === 1 ? terms[0]! : { kind: 'or', terms };
  }

  private andExpr(): Expr {
    const terms = [this.notExpr()];
    while (this.peekWord('and')) {
      this.pos += 3;
      terms.push(this.notExpr());
    }
    return terms.length === 1 ? terms[0]! : { kind: 'and', terms };
  }

  private notExpr(): Expr {
    if (this.peekWord('not') && !this.peek('not(')) {
      this.pos += 3;
      return { kind: 'not', term: this.notExpr() };
    }
    return this.compare();
  }

  private compare(): Expr {
    const left = this.value();
    for (const op of ['==', '!=', '>=', '<=', '>', '<'] as const) {
      if (this.peek(op)) {
        this.pos += op.length;
        return { kind: 'compare', op, left, right: [this.value()] };
      }
    }
    if (this.peekWord('in')) {
      this.pos += 2;
      this.eat('[');
      const right: Expr[] = [];
      if (!this.peek(']')) {
        for (;;) {
          right.push(this.argValue());
          if (this.peek(',')) {
            this.pos++;
            continue;
          }
          break;
        }
      }
      this.eat(']');
      return { kind: 'compare', op: 'in', left, right };
    }
    return left;
  }
}

/** Parses a value expression (what a map entry yields). */
export function parseValue(src: string): Expr {
  const p = new Parser(src);
  const e = p.value();
  p.done();
  return e;
}

/** Parses a condition (`when:`). */
export function parseCondition(src: string): Expr {
  const p = new Parser(src);
  const e = p.cond();
  p.done();
  return e;
}

/** Every converter and function name an expression uses, for load-time checks. */
export function namesUsed(e: Expr, out: { converters: Set<string>; functions: Set<string> } = { converters: new Set(), functions: new Set() }) {
  switch (e.kind) {
    case 'pipe':
      out.converters.add(e.converter);
      namesUsed(e.input, out);
      for (const a of e.args) namesUsed(a.value, out);
      break;
    case 'call':
      out.functions.add(e.name);
      for (const a of e.args) namesUsed(a.value, out);
      break;
    case 'alt':
      for (const o of e.options) namesUsed(o, out);
      break;
    case 'compare':
      namesUsed(e.left, out);
      for (const r of e.right) namesUsed(r, out);
      break;
    case 'and':
    case 'or':
      for (const t of e.terms) namesUsed(t, out);
      break;
    case 'not':
      namesUsed(e.term, out);
      break;
    default:
      break;
  }
  return out;
}
