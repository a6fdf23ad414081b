/**
 * A problem in a channel file, located so an analyst can jump to it: the message reads
 * "<file>:<line>:<col>: <what is wrong> (<rule>)", the form editors and CI logs turn into links.
 * `rule` is the JSON Schema keyword that failed (e.g. "maximum", "required") or one of the
 * loader's own checks ("syntax", "charset", "address", "file", "tls", "name", "duplicate-name",
 * "duplicate-listener", "read").
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
