/**
 * The issues of one message, each distinct finding once. The same finding recurs: identity and map
 * read the same value (PID-3 for the key and for identifier[]), and a repeating group meets the
 * same unknown authority or coding system in every OBX (a 30-OBX ORU met 160 findings for 17
 * distinct ones). Kept at the source, in first-seen order, without building a key per issue.
 */
import type { ConversionIssue, IssueSink } from './types.js';

export class IssueLog implements IssueSink {
  /** Distinct issues in the order first reported. */
  readonly list: ConversionIssue[] = [];
  private readonly byLocation = new Map<string, ConversionIssue[]>();

  report(issue: ConversionIssue): void {
    const location = issue.location ?? '';
    const same = this.byLocation.get(location);
    if (same === undefined) {
      this.byLocation.set(location, [issue]);
    } else {
      for (const s of same) if (sameFinding(s, issue)) return;
      same.push(issue);
    }
    this.list.push(issue);
  }
}

/** Two issues at one location say the same thing (an absent table and an empty one are alike). */
function sameFinding(a: ConversionIssue, b: ConversionIssue): boolean {
  return a.code === b.code && a.severity === b.severity && (a.table ?? '') === (b.table ?? '') && a.message === b.message;
}
