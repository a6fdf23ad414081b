/**
 * The expression language of mapping files (src/mapping/expression.ts), as the parser reads it:
 * one behaviour per test, the expression text in view, the tree it becomes asserted whole.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ExpressionError, parseCondition, parseValue, type Expr, type PathRef } from '../../src/mapping/expression.js';

/** The tree of a path as the parser builds it (repetition undefined = the first, HL7's default). */
function path(
  text: string,
  segment: string,
  field: number,
  more: { occurrence?: number; repetition?: number; component?: number; subcomponent?: number } = {},
): PathRef {
  return {
    kind: 'path',
    segment,
    occurrence: more.occurrence ?? 1,
    field,
    allRepetitions: `${field}[*]`,
    repetition: more.repetition,
    ...(more.component !== undefined ? { component: more.component } : {}),
    ...(more.subcomponent !== undefined ? { subcomponent: more.subcomponent } : {}),
    text,
  };
}

function literal(value: string): Expr {
  return { kind: 'literal', value };
}

function present(arg: Expr): Expr {
  return { kind: 'call', name: 'present', args: [{ name: null, value: arg }] };
}

/** The error parsing `src` throws (with parseValue, or parseCondition for conditions). */
function parseError(src: string, parse: (src: string) => Expr = parseValue): ExpressionError {
  try {
    parse(src);
  } catch (err) {
    assert.ok(err instanceof ExpressionError, `expected an ExpressionError, got ${String(err)}`);
    return err;
  }
  assert.fail(`"${src}" parsed although it is invalid`);
}

// ---------------------------------------------------------------- paths

test('PID-3 is field 3 of the first PID, first repetition', () => {
  assert.deepEqual(parseValue('PID-3'), path('PID-3', 'PID', 3));
});

test('PID-3[*] is every repetition of the field', () => {
  assert.deepEqual(parseValue('PID-3[*]'), path('PID-3[*]', 'PID', 3, { repetition: 0 }));
});

test('PID-3[2].4.1 is subcomponent 1 of component 4 of the second repetition', () => {
  assert.deepEqual(parseValue('PID-3[2].4.1'), path('PID-3[2].4.1', 'PID', 3, { repetition: 2, component: 4, subcomponent: 1 }));
});

test('OBX[2]-5 is field 5 of the second OBX in scope', () => {
  assert.deepEqual(parseValue('OBX[2]-5'), path('OBX[2]-5', 'OBX', 5, { occurrence: 2 }));
});

test('OBX[*]-5 is field 5 of every OBX in scope', () => {
  assert.deepEqual(parseValue('OBX[*]-5'), path('OBX[*]-5', 'OBX', 5, { occurrence: 0 }));
});

test('@ is the current forEach value', () => {
  assert.deepEqual(parseValue('@'), { kind: 'current' });
});

test('@.1.2 is subcomponent 2 of component 1 of the current value', () => {
  assert.deepEqual(parseValue('@.1.2'), { kind: 'current', component: 1, subcomponent: 2 });
});

// ---------------------------------------------------------------- literals

test("a quoted text is a literal, spaces and all: 'a b'", () => {
  assert.deepEqual(parseValue("'a b'"), literal('a b'));
});

test('a number is a literal kept as written: -1.5', () => {
  assert.deepEqual(parseValue('-1.5'), literal('-1.5'));
});

// ---------------------------------------------------------------- alternatives and pipes

test("a ?? b ?? c lists the alternatives in order: PID-3 ?? PID-2 ?? 'x'", () => {
  assert.deepEqual(parseValue("PID-3 ?? PID-2 ?? 'x'"), {
    kind: 'alt',
    options: [path('PID-3', 'PID', 3), path('PID-2', 'PID', 2), literal('x')],
  });
});

test('PID-3[*] | cx pipes the value through a converter without arguments', () => {
  assert.deepEqual(parseValue('PID-3[*] | cx'), {
    kind: 'pipe',
    input: path('PID-3[*]', 'PID', 3, { repetition: 0 }),
    converter: 'cx',
    args: [],
  });
});

test('PID-3|cx needs no spaces around the pipe', () => {
  assert.deepEqual(parseValue('PID-3|cx'), { kind: 'pipe', input: path('PID-3', 'PID', 3), converter: 'cx', args: [] });
});

test('pipes chain left to right: PID-5 | xpn | text', () => {
  assert.deepEqual(parseValue('PID-5 | xpn | text'), {
    kind: 'pipe',
    input: { kind: 'pipe', input: path('PID-5', 'PID', 5), converter: 'xpn', args: [] },
    converter: 'text',
    args: [],
  });
});

test('a bareword positional argument is taken literally: code(hl7-0001)', () => {
  assert.deepEqual(parseValue('PID-8 | code(hl7-0001)'), {
    kind: 'pipe',
    input: path('PID-8', 'PID', 8),
    converter: 'code',
    args: [{ name: null, value: literal('hl7-0001') }],
  });
});

test('a named argument: ei(type: FILL)', () => {
  assert.deepEqual(parseValue('OBR-3 | ei(type: FILL)'), {
    kind: 'pipe',
    input: path('OBR-3', 'OBR', 3),
    converter: 'ei',
    args: [{ name: 'type', value: literal('FILL') }],
  });
});

test('a URL argument is a bareword, not a name: its colon is followed by //', () => {
  assert.deepEqual(parseValue('PID-3 | code(http://example.org/x)'), {
    kind: 'pipe',
    input: path('PID-3', 'PID', 3),
    converter: 'code',
    args: [{ name: null, value: literal('http://example.org/x') }],
  });
});

test('an argument that is a path is read from the message: cx(type: PID-4)', () => {
  assert.deepEqual(parseValue('PID-3 | cx(type: PID-4)'), {
    kind: 'pipe',
    input: path('PID-3', 'PID', 3),
    converter: 'cx',
    args: [{ name: 'type', value: path('PID-4', 'PID', 4) }],
  });
});

test('parentheses group a value before a pipe: (PID-3 ?? PID-2) | cx', () => {
  assert.deepEqual(parseValue('(PID-3 ?? PID-2) | cx'), {
    kind: 'pipe',
    input: { kind: 'alt', options: [path('PID-3', 'PID', 3), path('PID-2', 'PID', 2)] },
    converter: 'cx',
    args: [],
  });
});

// ---------------------------------------------------------------- calls

test('a function call: present(PID-3)', () => {
  assert.deepEqual(parseValue('present(PID-3)'), present(path('PID-3', 'PID', 3)));
});

test("a call's arguments may be full values: concat('urn:oid:', MSH-3.2 | uriPart)", () => {
  assert.deepEqual(parseValue("concat('urn:oid:', MSH-3.2 | uriPart)"), {
    kind: 'call',
    name: 'concat',
    args: [
      { name: null, value: literal('urn:oid:') },
      { name: null, value: { kind: 'pipe', input: path('MSH-3.2', 'MSH', 3, { component: 2 }), converter: 'uriPart', args: [] } },
    ],
  });
});

// ---------------------------------------------------------------- comparisons

test("== compares with one value: PID-8 == 'F'", () => {
  assert.deepEqual(parseCondition("PID-8 == 'F'"), { kind: 'compare', op: '==', left: path('PID-8', 'PID', 8), right: [literal('F')] });
});

test("!= compares with one value: PID-8 != 'F'", () => {
  assert.deepEqual(parseCondition("PID-8 != 'F'"), { kind: 'compare', op: '!=', left: path('PID-8', 'PID', 8), right: [literal('F')] });
});

test('the ordering operators >, <, >=, <= are each read whole', () => {
  for (const op of ['>', '<', '>=', '<='] as const) {
    assert.deepEqual(parseCondition(`PID-7 ${op} 5`), { kind: 'compare', op, left: path('PID-7', 'PID', 7), right: [literal('5')] }, op);
  }
});

test('a comparison may start with a call: count(PID-3) > 1', () => {
  assert.deepEqual(parseCondition('count(PID-3) > 1'), {
    kind: 'compare',
    op: '>',
    left: { kind: 'call', name: 'count', args: [{ name: null, value: path('PID-3', 'PID', 3) }] },
    right: [literal('1')],
  });
});

test('in [...] lists barewords taken literally: PV1-2 in [I, E]', () => {
  assert.deepEqual(parseCondition('PV1-2 in [I, E]'), { kind: 'compare', op: 'in', left: path('PV1-2', 'PV1', 2), right: [literal('I'), literal('E')] });
});

test('in [] is an empty list', () => {
  assert.deepEqual(parseCondition('PV1-2 in []'), { kind: 'compare', op: 'in', left: path('PV1-2', 'PV1', 2), right: [] });
});

// ---------------------------------------------------------------- and, or, not

test('and binds tighter than or: a or b and c is a or (b and c)', () => {
  const [a, b, c] = ['A', 'B', 'C'].map((x) => present(literal(x)));
  assert.deepEqual(parseCondition('present(A) or present(B) and present(C)'), { kind: 'or', terms: [a, { kind: 'and', terms: [b, c] }] });
});

test('not binds tighter than and: not a and b is (not a) and b', () => {
  const [a, b] = ['A', 'B'].map((x) => present(literal(x)));
  assert.deepEqual(parseCondition('not present(A) and present(B)'), { kind: 'and', terms: [{ kind: 'not', term: a! }, b] });
});

test('not(...) negates the whole condition in its parentheses', () => {
  const [a, b] = ['A', 'B'].map((x) => present(literal(x)));
  assert.deepEqual(parseCondition('not(present(A) or present(B))'), { kind: 'not', term: { kind: 'or', terms: [a, b] } });
});

test('parentheses override precedence: (a or b) and c', () => {
  const [a, b, c] = ['A', 'B', 'C'].map((x) => present(literal(x)));
  assert.deepEqual(parseCondition('(present(A) or present(B)) and present(C)'), { kind: 'and', terms: [{ kind: 'or', terms: [a, b] }, c] });
});

test('not not a keeps both negations', () => {
  assert.deepEqual(parseCondition('not not present(A)'), { kind: 'not', term: { kind: 'not', term: present(literal('A')) } });
});

// ---------------------------------------------------------------- errors and their column

test('a pipe without a converter name: the column where the name should be', () => {
  const err = parseError('PID-3 |');
  assert.equal(err.column, 8);
  assert.equal(err.message, 'expected a converter name after "|" at column 8 of "PID-3 |"');
});

test('a converter name that starts with a digit is not a name', () => {
  const err = parseError('PID-3 | 1x');
  assert.equal(err.message, 'expected a converter name after "|" at column 9 of "PID-3 | 1x"');
});

test('an unterminated quote: the column of the opening quote', () => {
  const err = parseError("'abc");
  assert.equal(err.message, `unterminated quoted text at column 1 of "'abc"`);
});

test('a 0 in a path is refused at the start of the path, since positions are 1-based', () => {
  assert.equal(parseError('PID-0').message, 'positions in a path are 1-based at column 1 of "PID-0"');
  assert.equal(parseError("'x' ?? OBX[0]-5").message, `positions in a path are 1-based at column 8 of "'x' ?? OBX[0]-5"`);
  assert.equal(parseError('PID-3[0]').column, 1);
  assert.equal(parseError('PID-3.0').column, 1);
});

test('two values side by side: the column of the second', () => {
  assert.equal(parseError('PID-3 PID-4').message, 'unexpected "PID-4" at column 7 of "PID-3 PID-4"');
});

test('|| is not a pipe', () => {
  assert.equal(parseError('PID-3 || PID-4').message, 'unexpected "|| PID-4" at column 7 of "PID-3 || PID-4"');
});

test('a call without its closing parenthesis: the column where it should be', () => {
  assert.equal(parseError('present(PID-3').message, 'expected ")" at column 14 of "present(PID-3"');
});

test('a value cannot start with a pipe', () => {
  assert.equal(parseError('| cx').message, 'expected a path (e.g. PID-3), @, a quoted text or a function at column 1 of "| cx"');
});

test('a bare word is not a value outside an argument list', () => {
  assert.equal(parseError('order').column, 1);
});

test('a comparison without its right side: the column after the operator', () => {
  assert.equal(parseError('PID-8 ==', parseCondition).message, 'expected a path (e.g. PID-3), @, a quoted text or a function at column 9 of "PID-8 =="');
});

test('a single = is not an operator', () => {
  assert.equal(parseError('PID-3 = 1', parseCondition).message, 'unexpected "= 1" at column 7 of "PID-3 = 1"');
});

test('and without a right side', () => {
  assert.equal(parseError('present(PID-3) and', parseCondition).column, 19);
});

test('an in-list without its closing bracket', () => {
  assert.equal(parseError('PV1-2 in [I', parseCondition).message, 'expected "]" at column 12 of "PV1-2 in [I"');
});

test('and must stand alone as a word: andx is unexpected', () => {
  assert.equal(parseError('present(PID-3) andx', parseCondition).message, 'unexpected "andx" at column 16 of "present(PID-3) andx"');
});
