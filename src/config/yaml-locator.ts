import { isAlias, isMap, isNode, isScalar, isSeq, type Document, type LineCounter } from 'yaml';

/** 1-based line and column in a configuration file. */
export interface SourcePosition {
  readonly line: number;
  readonly col: number;
}

const START: SourcePosition = Object.freeze({ line: 1, col: 1 });

/**
 * Turns a path inside the parsed YAML (as JSON Schema reports it) back into where the analyst
 * typed it. When the path runs past what the file contains (a missing key), it stops at the
 * deepest node that exists, which is the mapping the key belongs in.
 */
export class YamlLocator {
  constructor(
    private readonly doc: Document,
    private readonly lines: LineCounter,
  ) {}

  /** Where the value at `path` starts; for `key:` with no value, where the key starts. */
  valueAt(path: readonly string[]): SourcePosition {
    return this.walk(path, false);
  }

  /** Where the key `path[last]` is written, e.g. for an unknown key. */
  keyAt(path: readonly string[]): SourcePosition {
    return this.walk(path, true);
  }

  private walk(path: readonly string[], wantKey: boolean): SourcePosition {
    let node: unknown = this.doc.contents;
    let last: unknown = node;
    for (let i = 0; i < path.length; i++) {
      const segment = path[i];
      if (isAlias(node)) node = node.resolve(this.doc);
      if (isMap(node)) {
        const pair = node.items.find((p) => isScalar(p.key) && String(p.key.value) === segment);
        if (pair === undefined) break;
        const isLast = i === path.length - 1;
        if (isLast && wantKey) return this.position(pair.key) ?? this.position(last) ?? START;
        last = pair.value ?? pair.key;
        node = pair.value;
      } else if (isSeq(node)) {
        const item: unknown = node.items[Number(segment)];
        if (item === undefined) break;
        last = item;
        node = item;
      } else {
        break;
      }
    }
    return this.position(last) ?? START;
  }

  private position(node: unknown): SourcePosition | null {
    if (!isNode(node) || !node.range) return null;
    const range = node.range;
    return this.lines.linePos(range[0]);
  }
}
