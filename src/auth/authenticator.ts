/**
 * Logging in: the users file (read at each login, so `hl7-engine users` takes effect without a
 * restart), the throttle, and the session store together.
 */
import { hashPassword, verifyPassword } from './passwords.js';
import { SessionStore, type Session } from './sessions.js';
import { LoginThrottle } from './throttle.js';
import { readUsers } from './users-file.js';

export type LoginResult =
  | { readonly ok: true; readonly session: Session }
  | { readonly ok: false; readonly why: 'throttled'; readonly retryAfterMs: number }
  | { readonly ok: false; readonly why: 'bad-credentials' };

export interface LoginEvents {
  /** Counted in a metric; never given the password. */
  readonly onFailure?: (why: 'bad-credentials' | 'throttled') => void;
}

export class Authenticator {
  private dummy: Promise<string> | null = null;
  /** Users a trusted proxy named: one session each, so their CSRF token stays the same. */
  private readonly proxied = new Map<string, string>();

  constructor(
    readonly usersPath: string,
    readonly sessions: SessionStore = new SessionStore(),
    readonly throttle: LoginThrottle = new LoginThrottle(),
    private readonly events: LoginEvents = {},
  ) {}

  async login(user: string, password: string, address: string): Promise<LoginResult> {
    const wait = this.throttle.waitMs(user, address);
    if (wait > 0) {
      this.events.onFailure?.('throttled');
      return { ok: false, why: 'throttled', retryAfterMs: wait };
    }
    const entry = readUsers(this.usersPath).users.find((u) => u.name === user);
    // An unknown name costs the same scrypt work as a wrong password, so timing does not tell
    // which names exist.
    this.dummy ??= hashPassword('not a password of anyone');
    const ok = await verifyPassword(password, entry?.hash ?? (await this.dummy));
    if (!entry || !ok) {
      this.throttle.failed(user, address);
      this.events.onFailure?.('bad-credentials');
      return { ok: false, why: 'bad-credentials' };
    }
    this.throttle.succeeded(user);
    return { ok: true, session: this.sessions.create(entry.name, entry.role) };
  }

  /**
   * The session of a user a trusted reverse proxy has authenticated (see TrustedProxy), or null
   * when the users file has no such user. The role is the users file's, read at each request,
   * like a password session's.
   */
  proxySession(user: string): Session | null {
    const live = this.current(this.proxied.get(user));
    if (live) return live;
    const entry = readUsers(this.usersPath).users.find((u) => u.name === user);
    if (!entry) {
      this.proxied.delete(user);
      return null;
    }
    const s = this.sessions.create(entry.name, entry.role);
    this.proxied.set(user, s.id);
    return s;
  }

  /** The session, if its user still exists with the same role (a removed user is logged out). */
  current(id: string | undefined): Session | null {
    const s = this.sessions.get(id);
    if (!s) return null;
    const entry = readUsers(this.usersPath).users.find((u) => u.name === s.user);
    if (!entry || entry.role !== s.role) {
      this.sessions.destroy(s.id);
      return null;
    }
    return s;
  }
}
