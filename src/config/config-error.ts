/**
 * A problem in a configuration file (channel, mapping, site overlay, code table), located so an
 * analyst can jump to it: the message reads "<file>:<line>:<col>: <what is wrong> (<rule>)", the
 * form editors and CI logs turn into links. `rule` is the JSON Schema keyword that failed (e.g.
 * "maximum", "required") or one of the loaders' own checks ("syntax", "read", "charset", "tls",
 * "converter", "duplicate-name", …).
 */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  readonly file: string;
  /** 1-based. */
  readonly line: number;
  /** 1-based. */
  readonly col: number;
  readonly rule: string;
  /** The description without location and rule, for UIs that show those separately. */
  readonly detail: string;

  constructor(file: string, line: number, col: number, detail: string, rule: string) {
    super(`${file}:${line}:${col}: ${detail} (${rule})`);
    this.file = file;
    this.line = line;
    this.col = col;
    this.rule = rule;
    this.detail = detail;
  }
}

/**
 * Several problems found in one load, thrown as one error. It is the first problem (same file,
 * line and column, so `instanceof ConfigError` callers keep working) and carries all of them, so
 * an analyst fixes every file in one round instead of one error per restart.
 */
export class ConfigErrorList extends ConfigError {
  readonly errors: readonly ConfigError[];

  constructor(errors: readonly ConfigError[]) {
    const first = errors[0];
    if (first === undefined) throw new RangeError('ConfigErrorList needs at least one error');
    super(first.file, first.line, first.col, first.detail, first.rule);
    this.errors = errors;
    if (errors.length > 1) {
      this.message = `${errors.length} configuration problems:\n${errors.map((e) => `  ${e.message}`).join('\n')}`;
    }
  }
}

/** Every problem a thrown ConfigError stands for: the list's, or just itself. */
export function configErrorsOf(err: ConfigError): readonly ConfigError[] {
  return err instanceof ConfigErrorList ? err.errors : [err];
}

/** File order: what an analyst reads top to bottom. */
export function byPosition(a: ConfigError, b: ConfigError): number {
  return a.line - b.line || a.col - b.col;
}
