/**
 * Console sessions, in memory: a restart logs everyone out, which is the safe direction. Each
 * session has its own CSRF token, which every state-changing request must echo in a header.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { Role } from './users-file.js';

export interface Session {
  readonly id: string;
  readonly user: string;
  readonly role: Role;
  readonly csrf: string;
  readonly createdAt: number;
  lastSeen: number;
}

export interface SessionLimits {
  /** Ends a session not used for this long. Default 30 minutes. */
  readonly idleMs: number;
  /** Ends every session this long after login. Default 12 hours. */
  readonly maxAgeMs: number;
}

export const DEFAULT_SESSION_LIMITS: SessionLimits = { idleMs: 30 * 60_000, maxAgeMs: 12 * 3600_000 };

export class SessionStore {
  private readonly sessions = new Map<string, Session>();

  constructor(
    private readonly limits: SessionLimits = DEFAULT_SESSION_LIMITS,
    private readonly now: () => number = Date.now,
  ) {}

  create(user: string, role: Role): Session {
    const t = this.now();
    const s: Session = { id: randomBytes(32).toString('base64url'), user, role, csrf: randomBytes(32).toString('base64url'), createdAt: t, lastSeen: t };
    this.sessions.set(s.id, s);
    return s;
  }

  /** The live session with this id (touching it), or null. */
  get(id: string | undefined): Session | null {
    if (!id) return null;
    const s = this.sessions.get(id);
    if (!s) return null;
    const t = this.now();
    if (t - s.lastSeen > this.limits.idleMs || t - s.createdAt > this.limits.maxAgeMs) {
      this.sessions.delete(id);
      return null;
    }
    s.lastSeen = t;
    return s;
  }

  destroy(id: string): void {
    this.sessions.delete(id);
  }

  /** A removed user or a changed password ends that user's sessions. */
  destroyUser(user: string): void {
    for (const [id, s] of this.sessions) if (s.user === user) this.sessions.delete(id);
  }
}

export function csrfMatches(session: Session, given: string | undefined): boolean {
  if (!given) return false;
  const a = Buffer.from(session.csrf);
  const b = Buffer.from(given);
  return a.length === b.length && timingSafeEqual(a, b);
}
