/**
 * Message structure: the segments of a message arranged into the groups a mapping declares
 * (ORDER = ORC/OBR with its NTE, OBSERVATION = OBX with its NTE, …). Paths resolve against the
 * group they are evaluated in, then its parents, so an OBX mapping reads its own NTE and the
 * message's PID without spelling out where each lives. Segments that fit no group stay at the
 * root: the structure is permissive, like the feeds it reads.
 */
import type { Hl7Message } from '../hl7/index.js';

export interface GroupDef {
  readonly name: string;
  /** The segment that begins an instance of the group (a second one begins the next instance). */
  readonly start: string;
  /** Segments that may precede `start` in the same instance (ORC before OBR), each once per instance. */
  readonly leading: readonly string[];
  /** Segment ids and group names an instance holds directly. */
  readonly members: readonly string[];
}

export interface GroupNode {
  readonly name: string;
  /** Message segment indices (0-based) held directly by this instance, in order. */
  readonly segments: number[];
  readonly children: GroupNode[];
  readonly parent: GroupNode | null;
  started: boolean;
  /** This instance's segment indices by segment id, built on the first path lookup (evaluate.ts). */
  index: Map<string, number[]> | null;
}

export const ROOT = '$message';

function newNode(name: string, parent: GroupNode | null): GroupNode {
  const n: GroupNode = { name, segments: [], children: [], parent, started: false, index: null };
  parent?.children.push(n);
  return n;
}

export function buildTree(message: Hl7Message, groups: ReadonlyMap<string, GroupDef>, segmentIds?: readonly string[]): GroupNode {
  const nested = new Set<string>();
  for (const g of groups.values()) for (const m of g.members) if (groups.has(m)) nested.add(m);
  const rootMembers = [...groups.keys()].filter((g) => !nested.has(g));
  const root = newNode(ROOT, null);
  root.started = true;
  const stack: GroupNode[] = [root];
  const ids = segmentIds ?? message.segmentIds();

  for (let i = 0; i < ids.length; i++) {
    const id = ids[i]!;
    for (;;) {
      const cur = stack[stack.length - 1]!;
      if (cur === root) {
        const g = rootMembers.map((n) => groups.get(n)!).find((d) => d.start === id || d.leading.includes(id));
        if (g) {
          const node = newNode(g.name, root);
          node.segments.push(i);
          node.started = g.start === id;
          stack.push(node);
        } else {
          root.segments.push(i);
        }
        break;
      }
      const def = groups.get(cur.name)!;
      // A segment of the group's head (leading ones, then start) occurs once per instance in the
      // v2 structures that have one ([ORC] OBR in ORU_R01, ORC [OBR] in ORM_O01/OML_O21): met
      // again, or a leading one met after the start, it begins the next instance. So an order
      // that is only an ORC (ORC RXO ORC RXO) stays apart from the next one, and an OBR after an
      // OBR is an order of its own even without an ORC of its own.
      if (def.leading.includes(id) && (cur.started || cur.segments.some((j) => ids[j] === id))) {
        stack.pop();
        continue;
      }
      if (cur.started && id === def.start) {
        stack.pop();
        continue;
      }
      if (id === def.start) {
        cur.segments.push(i);
        cur.started = true;
        break;
      }
      const sub = def.members.map((m) => groups.get(m)).find((d) => d && (d.start === id || d.leading.includes(id)));
      if (sub && !(def.members.includes(id) && !groups.has(id) && sub.start !== id)) {
        const node = newNode(sub.name, cur);
        node.segments.push(i);
        node.started = sub.start === id;
        stack.push(node);
        break;
      }
      // A Z-segment (site-defined, allowed anywhere in a message) the group does not declare stays
      // in the instance it sits in instead of closing it: an OBX after a ZLR is still its OBR's.
      if (def.members.includes(id) || def.leading.includes(id) || (id.startsWith('Z') && !groups.has(id))) {
        cur.segments.push(i);
        break;
      }
      stack.pop();
    }
  }
  return root;
}

/** Group instances named `name` below `node` (not looking inside instances of that same name). */
export function descendants(node: GroupNode, name: string): GroupNode[] {
  const out: GroupNode[] = [];
  for (const c of node.children) {
    if (c.name === name) out.push(c);
    else out.push(...descendants(c, name));
  }
  return out;
}
