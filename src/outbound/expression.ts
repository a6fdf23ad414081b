/**
 * The outbound expression language: a small FHIRPath subset that reads a Bundle, ending in an
 * optional converter, written like the inbound language (`name | xpn`, `gender | code(hl7-0001)`).
 *
 *   value     := term ('|' converter ('(' arg (',' arg)* ')')?)?
 *   term      := 'text' | number | %index | %setId | %event | %messageTime | path
 *   path      := root ('.' step | '[' n ']')*
 *   root      := %focus | %context | ResourceType (every one in the Bundle) | element (relative to the context)
 *   step      := element | resolve() | first() | distinct() | where(condition) | referencedBy(Type.element…)
 *   condition := 'not' '(' condition ')' | test (('and' | 'or') condition)?
 *   test      := value (('=' | '!=') ('text' | %variable path))?   a value alone means "exists"
 *
 * `%context` is the item the expression started from (the segment's forEach item), which
 * where() does not move: `component.where(code = %context.code)` compares each component's code
 * with the Observation's own. Compared with a value rather than a text, `=` is FHIRPath's
 * equality of collections: the same items in the same order, each compared whole.
 *
 * A choice element is named without its type (`value`, `effective`, `occurrence`): the item keeps
 * the type it was found with, so OBX-2 and OBX-5 can follow it.
 *
 * `referencedBy(Observation.focus)` is resolve() backwards: from a resource, the resources of that
 * type in the Bundle whose reference at that path points at it. FHIR links a specimen's
 * observations to the specimen (Observation.focus), never the other way, so SPM's OBX need it.
 */
import type { OutCondition, OutExpr, PathRoot, Step } from './model.js';

export class OutExpressionError extends Error {
  /** 1-based column in the expression text. */
  readonly column: number;
  constructor(message: string, column: number) {
    super(message);
    this.name = 'OutExpressionError';
    this.column = column;
  }
}

type Tok =
  | { t: 'ident'; v: string; at: number }
  | { t: 'var'; v: string; at: number }
  | { t: 'str'; v: string; at: number }
  | { t: 'num'; v: string; at: number }
  | { t: 'punct'; v: string; at: number }
  | { t: 'end'; at: number };

const VARIABLES = ['focus', 'context', 'index', 'setId', 'event', 'messageTime'];

function lex(src: string): Tok[] {
  const out: Tok[] = [];
  let i = 0;
  while (i < src.length) {
    const c = src.charAt(i);
    if (c === ' ' || c === '\t') {
      i++;
      continue;
    }
    if (c === "'") {
      let j = i + 1;
      let v = '';
      while (j < src.length && src.charAt(j) !== "'") {
        if (src.charAt(j) === '\\' && j + 1 < src.length) j++;
        v += src.charAt(j);
        j++;
      }
      if (j >= src.length) throw new OutExpressionError('text literal is never closed (missing \')', i + 1);
      out.push({ t: 'str', v, at: i + 1 });
      i = j + 1;
      continue;
    }
    const rest = src.slice(i);
    const num = /^\d+(\.\d+)?/.exec(rest);
    if (num) {
      out.push({ t: 'num', v: num[0], at: i + 1 });
      i += num[0].length;
      continue;
    }
    const id = /^%?[A-Za-z_][A-Za-z0-9_-]*/.exec(rest);
    if (id) {
      const word = id[0];
      if (word.startsWith('%')) out.push({ t: 'var', v: word.slice(1), at: i + 1 });
      else out.push({ t: 'ident', v: word, at: i + 1 });
      i += word.length;
      continue;
    }
    const two = rest.slice(0, 2);
    if (two === '!=') {
      out.push({ t: 'punct', v: two, at: i + 1 });
      i += 2;
      continue;
    }
    if ('.|()[],='.includes(c)) {
      out.push({ t: 'punct', v: c, at: i + 1 });
      i++;
      continue;
    }
    throw new OutExpressionError(`unexpected character '${c}'`, i + 1);
  }
  out.push({ t: 'end', at: src.length + 1 });
  return out;
}

class Parser {
  private i = 0;
  constructor(private readonly toks: Tok[]) {}

  private peek(): Tok {
    return this.toks[this.i] ?? { t: 'end', at: 0 };
  }
  private next(): Tok {
    const t = this.peek();
    this.i++;
    return t;
  }
  private isPunct(v: string): boolean {
    const t = this.peek();
    return t.t === 'punct' && t.v === v;
  }
  private expect(v: string, what: string): void {
    const t = this.next();
    if (t.t !== 'punct' || t.v !== v) throw new OutExpressionError(`expected '${v}' ${what}`, t.at);
  }

  end(): void {
    const t = this.peek();
    if (t.t !== 'end') throw new OutExpressionError('unexpected text after the expression', t.at);
  }

  value(): OutExpr {
    const term = this.term();
    if (!this.isPunct('|')) return term;
    this.next();
    const name = this.next();
    if (name.t !== 'ident') throw new OutExpressionError('expected a converter name after |', name.at);
    const args: string[] = [];
    if (this.isPunct('(')) {
      this.next();
      while (!this.isPunct(')')) {
        const a = this.next();
        if (a.t !== 'ident' && a.t !== 'str' && a.t !== 'num') throw new OutExpressionError('converter arguments are names or text', a.at);
        args.push(a.v);
        if (this.isPunct(',')) this.next();
        else if (!this.isPunct(')')) throw new OutExpressionError("expected ',' or ')' in converter arguments", this.peek().at);
      }
      this.next();
    }
    return { kind: 'convert', input: term, converter: name.v, args };
  }

  private term(): OutExpr {
    const t = this.peek();
    if (t.t === 'str' || t.t === 'num') {
      this.next();
      return { kind: 'literal', value: t.v };
    }
    if (t.t === 'var') {
      if (!VARIABLES.includes(t.v)) throw new OutExpressionError(`unknown variable %${t.v} (use ${VARIABLES.map((v) => `%${v}`).join(', ')})`, t.at);
      this.next();
      if (t.v === 'focus') return this.pathFrom({ kind: 'focus' });
      if (t.v === 'context') return this.pathFrom({ kind: 'start' });
      return { kind: 'var', name: t.v };
    }
    if (t.t === 'ident') {
      // A capitalised first name is a resource type (FHIR element names start in lower case).
      if (/^[A-Z]/.test(t.v)) {
        this.next();
        return this.pathFrom({ kind: 'type', type: t.v });
      }
      return this.pathFrom({ kind: 'context' }, true);
    }
    throw new OutExpressionError('expected a FHIR path, a text in quotes, a number or a %variable', t.at);
  }

  private pathFrom(root: PathRoot, firstIsStep = false): OutExpr {
    const steps: Step[] = [];
    if (firstIsStep) steps.push(this.step());
    for (;;) {
      if (this.isPunct('.')) {
        this.next();
        steps.push(this.step());
      } else if (this.isPunct('[')) {
        this.next();
        const n = this.next();
        if (n.t !== 'num' || !/^\d+$/.test(n.v)) throw new OutExpressionError('an index is a whole number, e.g. name[0]', n.at);
        this.expect(']', 'after the index');
        steps.push({ kind: 'index', index: Number(n.v) });
      } else break;
    }
    return { kind: 'path', root, steps };
  }

  private step(): Step {
    const t = this.next();
    if (t.t !== 'ident') throw new OutExpressionError('expected an element name', t.at);
    if (!this.isPunct('(')) return { kind: 'field', name: t.v };
    this.next();
    if (t.v === 'resolve' || t.v === 'first' || t.v === 'distinct') {
      this.expect(')', `after ${t.v}(`);
      return { kind: t.v };
    }
    if (t.v === 'referencedBy') {
      const type = this.next();
      if (type.t !== 'ident' || !/^[A-Z]/.test(type.v)) throw new OutExpressionError('referencedBy( takes a resource type and the path of its reference, e.g. referencedBy(Observation.focus)', type.at);
      const path: string[] = [];
      while (this.isPunct('.')) {
        this.next();
        const name = this.next();
        if (name.t !== 'ident') throw new OutExpressionError('expected an element name in the path of referencedBy(', name.at);
        path.push(name.v);
      }
      if (path.length === 0) throw new OutExpressionError(`referencedBy(${type.v}) needs the element that holds the reference, e.g. referencedBy(${type.v}.focus)`, this.peek().at);
      this.expect(')', 'to close referencedBy(');
      return { kind: 'referencedBy', type: type.v, path };
    }
    if (t.v === 'where') {
      const test = this.condition();
      this.expect(')', 'to close where(');
      return { kind: 'where', test };
    }
    throw new OutExpressionError(`unknown function ${t.v}() (use resolve(), first(), distinct(), where(...), referencedBy(Type.element))`, t.at);
  }

  condition(): OutCondition {
    let left = this.test();
    for (;;) {
      const t = this.peek();
      if (t.t === 'ident' && (t.v === 'and' || t.v === 'or')) {
        this.next();
        const right = this.test();
        left = { kind: t.v, left, right };
      } else return left;
    }
  }

  private test(): OutCondition {
    const t = this.peek();
    if (t.t === 'ident' && t.v === 'not' && this.toks[this.i + 1]?.t === 'punct' && (this.toks[this.i + 1] as { v: string }).v === '(') {
      this.next();
      this.next();
      const inner = this.condition();
      this.expect(')', 'to close not(');
      return { kind: 'not', inner };
    }
    const expr = this.value();
    if (this.isPunct('=') || this.isPunct('!=')) {
      const op = this.next() as { v: '=' | '!=' };
      const lit = this.peek();
      if (lit.t === 'str' || lit.t === 'num') {
        this.next();
        return { kind: 'compare', expr, op: op.v, value: lit.v };
      }
      // Only a %variable path on the right: a bare word there (status = final) is far more
      // often a text missing its quotes than a path, and would quietly never match.
      if (lit.t !== 'var') throw new OutExpressionError(`compare with a text in quotes, e.g. = 'A04'`, lit.at);
      return { kind: 'equal', left: expr, op: op.v, right: this.value() };
    }
    return { kind: 'exists', expr };
  }
}

export function parseOutValue(src: string): OutExpr {
  const p = new Parser(lex(src));
  const e = p.value();
  p.end();
  return e;
}

export function parseOutCondition(src: string): OutCondition {
  const p = new Parser(lex(src));
  const c = p.condition();
  p.end();
  return c;
}

/** Converter names an expression uses, so the loader can catch typos. */
export function convertersUsed(e: OutExpr | OutCondition, out: Set<string> = new Set()): Set<string> {
  switch (e.kind) {
    case 'convert':
      out.add(e.converter);
      convertersUsed(e.input, out);
      break;
    case 'path':
      for (const s of e.steps) if (s.kind === 'where') convertersUsed(s.test, out);
      break;
    case 'exists':
    case 'compare':
      convertersUsed(e.expr, out);
      break;
    case 'equal':
      convertersUsed(e.left, out);
      convertersUsed(e.right, out);
      break;
    case 'not':
      convertersUsed(e.inner, out);
      break;
    case 'and':
    case 'or':
      convertersUsed(e.left, out);
      convertersUsed(e.right, out);
      break;
    default:
      break;
  }
  return out;
}
