/**
 * Builds v2 segment text from value trees: every leaf escaped with the message's own delimiters
 * (a "^" or "|" in a name can never split a field), trailing empty parts dropped, segments ended
 * by CR as the standard says.
 */
import { escapeValue, type Delimiters } from '../hl7/index.js';
import type { FieldTarget, V2Rep } from './model.js';

export class SegmentBuilder {
  readonly id: string;
  /** fields[n] = repetitions of field n (1-based; MSH-1 and MSH-2 are written by the MSH builder). */
  private readonly fields: V2Rep[][] = [];

  constructor(id: string) {
    this.id = id;
  }

  /** Writes `reps` at `target`: a whole field takes every repetition; a component or subcomponent the first. */
  set(target: FieldTarget, reps: readonly V2Rep[]): void {
    if (reps.length === 0) return;
    if (target.component === undefined) {
      this.fields[target.field] = reps.map((r) => r.map((c) => [...c]));
      return;
    }
    const first = reps[0];
    if (first === undefined) return;
    const field = (this.fields[target.field] ??= []);
    const rep0 = (field[0] ??= []);
    while (rep0.length < target.component) rep0.push(['']);
    if (target.subcomponent === undefined) {
      // A composite written into one component: its components become subcomponents (CX.4 HD).
      rep0[target.component - 1] = first.map((c) => c[0] ?? '');
      return;
    }
    const comp = rep0[target.component - 1] ?? [''];
    while (comp.length < target.subcomponent) comp.push('');
    comp[target.subcomponent - 1] = first[0]?.[0] ?? '';
    rep0[target.component - 1] = comp;
  }

  has(field: number): boolean {
    return (this.fields[field]?.length ?? 0) > 0;
  }

  toText(d: Delimiters): string {
    const parts: string[] = [this.id];
    const start = this.id === 'MSH' ? 3 : 1;
    if (this.id === 'MSH') parts.push(`${d.component}${d.repetition}${d.escape}${d.subcomponent}`);
    for (let n = start; n < this.fields.length; n++) parts.push(fieldText(this.fields[n] ?? [], d));
    while (parts.length > (this.id === 'MSH' ? 2 : 1) && parts[parts.length - 1] === '') parts.pop();
    return parts.join(d.field);
  }
}

function trimJoin(items: string[], sep: string): string {
  let end = items.length;
  while (end > 0 && items[end - 1] === '') end--;
  return items.slice(0, end).join(sep);
}

function fieldText(reps: readonly V2Rep[], d: Delimiters): string {
  return trimJoin(
    reps.map((r) => trimJoin(r.map((c) => trimJoin(c.map((s) => escapeValue(s, d)), d.subcomponent)), d.component)),
    d.repetition,
  );
}
