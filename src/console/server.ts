/**
 * The console's JSON API on its own HTTP(S) server (apart from the operations server, so it can
 * listen on another address and use TLS). Every route but login needs a session; roles gate
 * what a session may do; every request that changes something must carry the session's CSRF
 * token in X-CSRF-Token. Decisions are written to the audit topic before anything else happens,
 * and content leaves only after its audit record is stored.
 */
import { randomUUID } from 'node:crypto';
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { resolve } from 'node:path';
import type { AddressInfo } from 'node:net';
import type { Kafka } from 'kafkajs';
import { Authenticator, csrfMatches, roleAllows, readUsers, type Role, type Session, type TrustedProxy } from '../auth/index.js';
import { CHANNEL_DEFAULTS, type ChannelConfig } from '../channel/index.js';
import type { Destination } from '../delivery/index.js';
import { EditRefused, planResubmit, readDeadLetter, resubmit, ResubmitFailed, writeAudit } from '../dlq/index.js';
import { newAuditRecord, type AuditRecord, type Decision, type DecisionAction, type RecordRef } from '../records/index.js';
import { loadOutboundSet, type OutboundSet } from '../outbound/index.js';
import { defaultCheckpointDir, replay, replayOutbound } from '../replay/index.js';
import { converterForChannel } from '../transform/index.js';
import type { Logger } from '../ops/index.js';
import { readRecordAt } from './content.js';
import type { ChannelOverviews } from './channels.js';
import type { Indexer } from './indexer.js';
import type { ConsoleMetrics } from './metrics.js';
import { openApiDocument } from './openapi.js';
import { ConsoleQueries, OUTCOMES, pageCursor, parseMemberCursor, parsePageCursor, type DeadLetterView, type Outcome } from './queries.js';
import { recordKey } from '../records/index.js';
import { UI_CSS, UI_HTML, UI_JS } from './ui.js';

/** The page and its two assets: the login form is all they show without a session. */
const STATIC: Record<string, { type: string; body: string }> = {
  '/': { type: 'text/html; charset=utf-8', body: UI_HTML },
  '/ui/app.js': { type: 'text/javascript; charset=utf-8', body: UI_JS },
  '/ui/app.css': { type: 'text/css; charset=utf-8', body: UI_CSS },
};

export interface ConsoleServerOptions {
  readonly kafka: Kafka;
  readonly channels: readonly ChannelConfig[];
  /** Write-back destinations whose dead letters the console shows and replays. */
  readonly destinations?: readonly Destination[];
  readonly queries: ConsoleQueries;
  readonly indexer: Indexer;
  readonly overviews: ChannelOverviews;
  readonly auth: Authenticator;
  readonly metrics: ConsoleMetrics;
  readonly logger: Logger;
  readonly host?: string;
  readonly port?: number;
  readonly tls?: { readonly key: Buffer; readonly cert: Buffer };
  readonly mappingsRoot?: string;
  readonly checkpointDir?: string;
  readonly auditTopic?: string;
  /** A reverse proxy whose identity header is believed (from its addresses only); none by default. */
  readonly trustedProxy?: TrustedProxy;
}

const SESSION_COOKIE = 'hl7c_session';
const MAX_BODY = 64 * 1024;
/** An edit-and-resubmit carries a whole message: larger bodies there (the CLI takes any size up to the channel's frame bound). */
const MAX_RESUBMIT_BODY = 2 * 1024 * 1024;
/** A real replay needs a dry run of the same dead letter by the same session this recently. */
const DRY_RUN_VALID_MS = 15 * 60_000;
/** Finished replay jobs are kept this long for the page that polls them, and at most this many. */
const JOB_KEPT_MS = 60 * 60_000;
const MAX_JOBS = 200;

/**
 * A replay run after its answer (202): the page polls GET /api/jobs/{id}. Kept in this console's
 * memory only; the replay's own audit records (replay-started, replay-finished) are its lasting
 * trace, so a console restarted meanwhile loses the job, not what the replay did.
 */
interface Job {
  readonly id: string;
  readonly kind: 'replay' | 'group-replay';
  readonly operator: string;
  readonly startedAt: string;
  state: 'running' | 'done' | 'failed';
  finishedAt: string | null;
  result: unknown;
  error: { readonly status: number; readonly message: string } | null;
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

interface Ctx {
  readonly req: IncomingMessage;
  readonly url: URL;
  readonly params: string[];
  readonly session: Session | null;
  body(): Promise<Record<string, unknown>>;
}

type Handler = (ctx: Ctx) => Promise<unknown>;

interface Route {
  readonly method: string;
  readonly pattern: RegExp;
  /** null: no session needed (login only). */
  readonly role: Role | null;
  readonly handler: Handler;
  readonly maxBody?: number;
}

function cookies(req: IncomingMessage): Map<string, string> {
  const out = new Map<string, string>();
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const i = part.indexOf('=');
    if (i > 0) out.set(part.slice(0, i).trim(), part.slice(i + 1).trim());
  }
  return out;
}

function str(body: Record<string, unknown>, name: string, required = true): string | undefined {
  const v = body[name];
  if (v === undefined || v === null) {
    if (required) throw new HttpError(400, `${name} is required`);
    return undefined;
  }
  if (typeof v !== 'string') throw new HttpError(400, `${name} must be a string`);
  if (required && !v.trim()) throw new HttpError(400, `${name} must not be empty`);
  if (v.length > 2000) throw new HttpError(400, `${name} is longer than 2000 characters`);
  return v;
}

function refFrom(params: string[]): RecordRef {
  const [topic, p, o] = params;
  if (!topic || !/^\d{1,9}$/.test(p ?? '') || !/^\d{1,18}$/.test(o ?? '')) throw new HttpError(400, 'a record is named by TOPIC/PARTITION/OFFSET (whole numbers)');
  let name: string;
  try {
    name = decodeURIComponent(topic);
  } catch {
    // A stray or truncated %-escape (say %E0%A4%A) is the client's mistake, not a server error.
    throw new HttpError(400, 'the topic in the path is not valid percent-encoding (encode it with encodeURIComponent)');
  }
  return { topic: name, partition: Number(p), offset: BigInt(o!).toString() };
}

const REF = '([^/]+)/(\\d+)/(\\d+)';

export class ConsoleServer {
  private server: Server | null = null;
  private readonly dryRuns = new Map<string, number>();
  /** Group dry runs: until when they count, and the members they showed (a changed group needs a new one). */
  private readonly groupDryRuns = new Map<string, { until: number; members: string }>();
  /** Dead letters being resubmitted right now: a second edit of the same one waits its turn (409). */
  private readonly resubmitting = new Set<string>();
  private readonly jobs = new Map<string, Job>();
  private readonly routes: Route[];
  private readonly queries: ConsoleQueries;

  constructor(private readonly opts: ConsoleServerOptions) {
    this.queries = opts.queries;
    const r = (method: string, path: string, role: Role | null, handler: Handler, maxBody?: number): Route => ({ method, pattern: new RegExp(`^${path}$`), role, handler, ...(maxBody ? { maxBody } : {}) });
    this.routes = [
      r('POST', '/api/session', null, (c) => this.login(c)),
      r('GET', '/api/session', 'viewer', async (c) => ({ user: c.session!.user, role: c.session!.role, csrfToken: c.session!.csrf })),
      r('DELETE', '/api/session', 'viewer', async (c) => {
        this.opts.auth.sessions.destroy(c.session!.id);
        return { loggedOut: true };
      }),
      r('GET', '/api/openapi.json', 'viewer', async () => openApiDocument()),
      r('GET', '/api/channels', 'viewer', () => this.opts.overviews.overview()),
      r('GET', '/api/messages', 'viewer', async (c) => this.search(c.url.searchParams)),
      r('POST', '/api/patient-key', 'viewer', async (c) => this.patientKey(await c.body())),
      r('GET', `/api/messages/${REF}`, 'viewer', async (c) => {
        const m = this.queries.message(refFrom(c.params));
        if (!m) throw new HttpError(404, 'no message at that position in the index');
        return m;
      }),
      r('GET', '/api/queue', 'viewer', async () => this.queue()),
      r('GET', '/api/queue/members', 'viewer', async (c) => this.groupPage(c.url.searchParams)),
      r('GET', '/api/dead-letters', 'viewer', async (c) => this.deadLetters(c.url.searchParams)),
      r('GET', `/api/dead-letters/${REF}`, 'viewer', async (c) => this.deadLetter(refFrom(c.params))),
      r('POST', `/api/dead-letters/${REF}/decisions`, 'operator', (c) => this.decide(c)),
      r('POST', '/api/queue/decisions', 'operator', (c) => this.decideGroup(c)),
      r('POST', '/api/queue/replay', 'operator', (c) => this.replayGroup(c)),
      r('POST', `/api/dead-letters/${REF}/replay`, 'operator', (c) => this.replay(c)),
      r('GET', '/api/jobs/([0-9a-f-]{36})', 'operator', async (c) => this.job(c.params[0]!)),
      r('POST', `/api/dead-letters/${REF}/resubmit`, 'operator', (c) => this.resubmit(c), MAX_RESUBMIT_BODY),
      r('POST', `/api/records/${REF}/content`, 'operator', (c) => this.content(c)),
      r('GET', '/api/users', 'admin', async () => readUsers(this.opts.auth.usersPath).users.map((u) => ({ name: u.name, role: u.role, changedAt: u.changedAt }))),
    ];
  }

  async start(): Promise<string> {
    const handler = (req: IncomingMessage, res: ServerResponse): void => void this.handle(req, res);
    const server = this.opts.tls ? createHttpsServer({ key: this.opts.tls.key, cert: this.opts.tls.cert }, handler) : createHttpServer(handler);
    this.server = server;
    await new Promise<void>((res, rej) => {
      server.once('error', rej);
      server.listen(this.opts.port ?? 0, this.opts.host ?? '127.0.0.1', () => res());
    });
    return this.url;
  }

  get url(): string {
    const a = this.server?.address() as AddressInfo | null;
    if (!a) throw new Error('console server not started');
    const host = a.family === 'IPv6' ? `[${a.address}]` : a.address;
    return `${this.opts.tls ? 'https' : 'http'}://${host}:${a.port}`;
  }

  async close(): Promise<void> {
    const s = this.server;
    this.server = null;
    if (!s) return;
    s.closeAllConnections();
    await new Promise<void>((res) => s.close(() => res()));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://console');
    const send = (status: number, body: unknown, headers: Record<string, string> = {}): void => {
      res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store', 'x-content-type-options': 'nosniff', ...headers });
      res.end(JSON.stringify(body));
    };
    const asset = STATIC[url.pathname];
    if (asset && (req.method === 'GET' || req.method === 'HEAD')) {
      res.writeHead(200, {
        'content-type': asset.type,
        'cache-control': 'no-cache',
        'x-content-type-options': 'nosniff',
        // Only our own script and stylesheet run; nothing is framed or loaded from elsewhere.
        'content-security-policy': "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        'referrer-policy': 'no-referrer',
      });
      res.end(req.method === 'HEAD' ? undefined : asset.body);
      return;
    }
    try {
      const candidates = this.routes.filter((r) => r.pattern.test(url.pathname));
      if (candidates.length === 0) throw new HttpError(404, `no such endpoint: ${url.pathname}`);
      const route = candidates.find((r) => r.method === req.method);
      if (!route) throw new HttpError(405, `${req.method} is not allowed here`, { allow: candidates.map((r) => r.method).join(', ') });
      const session = route.role !== null ? this.sessionOf(req) : null;
      if (route.role !== null) {
        if (!session) throw new HttpError(401, 'log in first (POST /api/session)');
        if (!roleAllows(session.role, route.role)) throw new HttpError(403, `this needs the ${route.role} role; ${session.user} is ${session.role}`);
        if (req.method !== 'GET' && !csrfMatches(session, req.headers['x-csrf-token'] as string | undefined)) {
          throw new HttpError(403, 'missing or wrong X-CSRF-Token header (GET /api/session gives the token)');
        }
      }
      let bodyRead: Promise<Record<string, unknown>> | null = null;
      const ctx: Ctx = {
        req,
        url,
        params: route.pattern.exec(url.pathname)!.slice(1),
        session,
        body: () => (bodyRead ??= readJson(req, route.maxBody ?? MAX_BODY)),
      };
      const result = await route.handler(ctx);
      if (result instanceof LoginResponse) send(200, result.body, { 'set-cookie': result.cookie });
      else if (result instanceof WithHeaders) send(result.status, result.body, result.headers);
      else send(route.method === 'POST' && route.role === 'operator' ? 201 : 200, result);
    } catch (err) {
      if (err instanceof HttpError) {
        send(err.status, { error: err.message }, err.headers);
        return;
      }
      this.opts.logger.error({ path: url.pathname, err: err instanceof Error ? err.message : String(err) }, 'console request failed');
      send(500, { error: 'the console could not answer; the engine log says why' });
    }
  }

  /**
   * Who is asking: the user a trusted proxy names (its header wins over a cookie, since the proxy
   * decides who is logged in), else the session cookie's user. A proxy naming someone the users
   * file does not know gets 401, not a fallback to the cookie.
   */
  private sessionOf(req: IncomingMessage): Session | null {
    const proxied = this.opts.trustedProxy?.userFrom(req.socket.remoteAddress, req.headers) ?? null;
    if (proxied === null) return this.opts.auth.current(cookies(req).get(SESSION_COOKIE));
    const s = this.opts.auth.proxySession(proxied);
    if (!s) throw new HttpError(401, `the reverse proxy's identity header names a user the console does not know: add them with hl7-engine users add`);
    return s;
  }

  private async login(c: Ctx): Promise<LoginResponse> {
    const body = await c.body();
    const user = str(body, 'user')!;
    const password = str(body, 'password')!;
    const result = await this.opts.auth.login(user, password, c.req.socket.remoteAddress ?? 'unknown');
    if (!result.ok) {
      this.opts.metrics.loginFailures.inc({ reason: result.why });
      if (result.why === 'throttled') {
        throw new HttpError(429, 'too many failed logins: wait before trying again', { 'retry-after': String(Math.ceil(result.retryAfterMs / 1000)) });
      }
      throw new HttpError(401, 'wrong user name or password');
    }
    const s = result.session;
    const cookie = `${SESSION_COOKIE}=${s.id}; Path=/; HttpOnly; SameSite=Strict${this.opts.tls ? '; Secure' : ''}`;
    return new LoginResponse({ user: s.user, role: s.role, csrfToken: s.csrf }, cookie);
  }

  private search(q: URLSearchParams): unknown {
    const known = ['channel', 'controlId', 'messageType', 'trigger', 'sendingApplication', 'sendingFacility', 'since', 'until', 'ackCode', 'outcome', 'repair', 'patientKey', 'limit', 'after'];
    for (const k of q.keys()) if (!known.includes(k)) throw new HttpError(400, `unknown search parameter ${k} (known: ${known.join(', ')})`);
    const get = (k: string): string | undefined => q.get(k) ?? undefined;
    const time = (k: string): string | undefined => {
      const v = get(k);
      if (v === undefined) return undefined;
      const t = Date.parse(v);
      if (Number.isNaN(t)) throw new HttpError(400, `${k} must be an ISO 8601 time`);
      return new Date(t).toISOString();
    };
    const outcome = get('outcome');
    if (outcome !== undefined && !(OUTCOMES as readonly string[]).includes(outcome)) throw new HttpError(400, `outcome must be one of ${OUTCOMES.join(', ')}`);
    const limit = get('limit');
    if (limit !== undefined && !/^\d{1,4}$/.test(limit)) throw new HttpError(400, 'limit must be a whole number up to 1000');
    const patientKey = get('patientKey');
    if (patientKey !== undefined && !/^pt:[0-9a-f]{32}$/.test(patientKey)) throw new HttpError(400, 'patientKey is the hash POST /api/patient-key gives (pt: and 32 hex digits), never the identifier itself');
    const since = time('since');
    const until = time('until');
    const afterText = get('after');
    const after = afterText === undefined ? undefined : parsePageCursor(afterText);
    if (after === null) throw new HttpError(400, "after must be the cursor from a previous page's Link header (rel=\"next\")");
    const n = limit ? Math.min(Math.max(Number(limit), 1), 1000) : 100;
    const page = this.queries.search({
      ...Object.fromEntries(['channel', 'controlId', 'messageType', 'trigger', 'sendingApplication', 'sendingFacility', 'ackCode', 'repair'].flatMap((k) => (get(k) !== undefined ? [[k, get(k)]] : []))),
      ...(since ? { since } : {}),
      ...(until ? { until } : {}),
      ...(outcome ? { outcome: outcome as Outcome } : {}),
      ...(patientKey ? { patientKey } : {}),
      ...(limit ? { limit: Number(limit) } : {}),
      ...(after ? { after } : {}),
    });
    // A full page may have more behind it: the same search from the last row on.
    if (page.length < n) return page;
    const next = new URLSearchParams([...q].filter(([k]) => k !== 'after'));
    next.set('after', pageCursor(page[page.length - 1]!));
    return new WithHeaders(page, { link: `</api/messages?${next.toString()}>; rel="next"` });
  }

  /**
   * The hash a patient's records are keyed and indexed by, from the identifier (PID-3.1), its
   * assigning authority (PID-3.4) and the sending facility (MSH-4). Posted in a body, so the
   * identifier never appears in a URL or an access log.
   */
  private patientKey(body: Record<string, unknown>): unknown {
    const id = str(body, 'identifier')!;
    const authority = str(body, 'authority', false) ?? '';
    const facility = str(body, 'sendingFacility', false) ?? '';
    const key = recordKey({ sendingFacility: facility } as Parameters<typeof recordKey>[0], id, authority || undefined);
    return { patientKey: key };
  }

  /** The queue's groups, each with the URL of its first page of members. */
  private queue(): unknown {
    return this.queries.queue().map((q) => ({
      ...q,
      groups: q.groups.map((g) => {
        const members = new URLSearchParams([[q.direction === 'outbound' ? 'destination' : 'channel', q.channel], ['category', g.category], ['stage', g.stage], ['cause', g.cause]]);
        return { ...g, members: `/api/queue/members?${members.toString()}` };
      }),
    }));
  }

  /**
   * A page of one queue group's waiting members (channel or destination, category, stage and
   * cause, as /api/queue names the group), oldest first; a full page links the next one.
   */
  private groupPage(q: URLSearchParams): unknown {
    const known = ['channel', 'destination', 'category', 'stage', 'cause', 'limit', 'after'];
    for (const k of q.keys()) if (!known.includes(k)) throw new HttpError(400, `unknown parameter ${k} (known: ${known.join(', ')})`);
    const one = (k: string): string | undefined => {
      const all = q.getAll(k);
      if (all.length > 1) throw new HttpError(400, `${k} is given ${all.length} times`);
      return all[0];
    };
    const channel = one('channel');
    const destination = one('destination');
    if ((channel === undefined) === (destination === undefined)) throw new HttpError(400, 'name the group\'s queue: channel or destination (one of them)');
    const queue = this.queueOf(destination === undefined ? { channel } : { destination });
    const need = (k: string): string => {
      const v = one(k);
      if (v === undefined) throw new HttpError(400, `${k} is required (as /api/queue names the group)`);
      return v;
    };
    const key = { queue: queue.name, category: need('category'), stage: need('stage'), cause: need('cause') };
    const limitText = one('limit');
    if (limitText !== undefined && !/^\d{1,4}$/.test(limitText)) throw new HttpError(400, 'limit must be a whole number up to 1000');
    const afterText = one('after');
    const after = afterText === undefined ? undefined : parseMemberCursor(afterText);
    if (after === null) throw new HttpError(400, "after must be the cursor from a previous page's Link header (rel=\"next\")");
    const page = this.queries.groupPage(key, {
      slaMinutes: this.queries.queueSlaMinutes(queue.name, queue.kind === 'channel' ? 'inbound' : 'outbound'),
      ...(limitText !== undefined ? { limit: Number(limitText) } : {}),
      ...(after ? { after } : {}),
    });
    if (page.next === null) return page.members;
    const next = new URLSearchParams([...q].filter(([k]) => k !== 'after'));
    next.set('after', page.next);
    return new WithHeaders(page.members, { link: `</api/queue/members?${next.toString()}>; rel="next"` });
  }

  private deadLetters(q: URLSearchParams): unknown {
    const known = ['channel', 'category', 'status', 'limit', 'after'];
    for (const k of q.keys()) if (!known.includes(k)) throw new HttpError(400, `unknown parameter ${k} (known: ${known.join(', ')})`);
    const status = q.get('status') ?? 'waiting';
    if (!['waiting', 'resolved', 'discarded', 'superseded', 'resubmitted', 'all'].includes(status)) throw new HttpError(400, 'status must be waiting, resolved, discarded, superseded, resubmitted or all');
    const limitText = q.get('limit');
    if (limitText !== null && !/^\d{1,4}$/.test(limitText)) throw new HttpError(400, 'limit must be a whole number up to 1000');
    const afterText = q.get('after');
    const after = afterText === null ? undefined : parsePageCursor(afterText);
    if (after === null) throw new HttpError(400, "after must be the cursor from a previous page's Link header (rel=\"next\")");
    const page = this.queries.deadLetterPage({
      ...(q.get('channel') ? { channel: q.get('channel')! } : {}),
      ...(q.get('category') ? { category: q.get('category')! } : {}),
      status: status as 'all',
      limit: limitText === null ? 100 : Number(limitText),
      ...(after ? { after } : {}),
    });
    const list = page.deadLetters.map(({ history: _h, ...d }) => d);
    if (page.next === null) return list;
    const next = new URLSearchParams([...q].filter(([k]) => k !== 'after'));
    next.set('after', page.next);
    return new WithHeaders(list, { link: `</api/dead-letters?${next.toString()}>; rel="next"` });
  }

  private deadLetter(ref: RecordRef) {
    const d = this.queries.deadLetter(ref);
    if (!d) throw new HttpError(404, 'no dead letter at that position in the index');
    return d;
  }

  private channelOf(name: string): ChannelConfig {
    const c = this.opts.channels.find((x) => x.name === name);
    if (!c) throw new HttpError(409, `channel ${name} is not served by this console`);
    return c;
  }

  private async decide(c: Ctx): Promise<unknown> {
    const ref = refFrom(c.params);
    const { action, reason, assignee } = decisionFrom(await c.body());
    const d = this.deadLetter(ref);
    if (d.status !== 'waiting') throw new HttpError(409, `this dead letter is ${d.status}; decisions apply to waiting ones`);
    const record = await this.recordDecision(c, d.channel, reason, { action, target: ref, ...(assignee ? { assignee } : {}) });
    return { decision: record, deadLetter: this.deadLetter(ref) };
  }

  /**
   * The decision is the audit record: once Kafka holds it (acks=all), it is made. The answer
   * waits until the index has it, so it shows the dead letters as the decision left them.
   */
  private async recordDecision(c: Ctx, channel: string, reason: string, decision: Decision): Promise<AuditRecord> {
    const record = newAuditRecord({ kind: 'dlq-decision', channel, reason, operator: c.session!.user, outcome: 'recorded', decision });
    await writeAudit(this.opts.kafka, record, this.opts.auditTopic);
    await this.opts.indexer.caughtUp(15_000);
    return record;
  }

  /**
   * The waiting members of the queue group a body names (channel, category, optionally cause):
   * 404 when none waits, 422 above the channel's review.maxGroupSize (`larger` says what to do).
   */
  private groupOf(body: Record<string, unknown>, what: string, larger: string): { queue: Queue; category: string; cause: string | undefined; members: DeadLetterView[] } {
    const queue = this.queueOf(body);
    const category = str(body, 'category')!;
    const cause = str(body, 'cause', false);
    const group = `category ${category}${cause !== undefined ? ' with that cause' : ''} in ${queue.kind} ${queue.name}`;
    // The kept count first: a group too large is refused without reading its members.
    const size = this.queries.groupSize(queue.name, category, cause);
    const max = queue.kind === 'channel' ? queue.channel.review.maxGroupSize : CHANNEL_DEFAULTS.reviewMaxGroupSize;
    const limit = queue.kind === 'channel' ? 'review.maxGroupSize' : 'the limit for a destination, as in hl7-engine dlq --destination';
    if (size > max) throw new HttpError(422, `${size} dead letters of ${group} are waiting; one ${what} takes at most ${max} (${limit}): ${larger}`);
    const members = this.queries.groupMembers(queue.name, category, cause);
    if (members.length === 0) throw new HttpError(404, `no dead letter of ${group} is waiting`);
    return { queue, category, cause, members };
  }

  /** The queue a group body names: `channel`, or `destination` for a write-back destination's dead letters. */
  private queueOf(body: Record<string, unknown>): Queue {
    const destination = str(body, 'destination', false);
    if (destination === undefined) {
      const channel = this.channelOf(str(body, 'channel')!);
      return { kind: 'channel', name: channel.name, channel };
    }
    if (body['channel'] !== undefined) throw new HttpError(400, 'name a channel or a destination, not both');
    return { kind: 'destination', name: destination, destination: this.destinationOf(destination) };
  }

  private destinationOf(name: string): Destination {
    const d = this.opts.destinations?.find((x) => x.name === name);
    if (!d) throw new HttpError(409, `destination ${name} is not served by this console (its destinations folder has no such destination)`);
    return d;
  }

  /**
   * One decision on a whole queue group (channel, category, optionally cause): the waiting
   * members are listed in one audit record, written before the answer; the index applies it to
   * each. Bounded by the channel's review.maxGroupSize, so the record stays a size Kafka stores.
   */
  private async decideGroup(c: Ctx): Promise<unknown> {
    const body = await c.body();
    const { action, reason, assignee } = decisionFrom(body);
    const { queue, category, cause, members } = this.groupOf(body, 'group decision', GROUP_DECISION_LARGER);
    const group = { category, ...(cause !== undefined ? { cause } : {}) };
    const record = await this.recordDecision(c, queue.name, reason, { action, targets: members.map((d) => d.ref), group, ...(assignee ? { assignee } : {}) });
    const after = members.map((d) => this.deadLetter(d.ref));
    return { decision: record, count: members.length, deadLetters: after.map(({ history: _h, ...d }) => d) };
  }

  private async replay(c: Ctx): Promise<unknown> {
    const ref = refFrom(c.params);
    const body = await c.body();
    const dryRun = body['dryRun'];
    if (typeof dryRun !== 'boolean') throw new HttpError(400, 'dryRun (true or false) is required: a replay shows its dry-run diff first');
    const reason = str(body, 'reason', !dryRun);
    const d = this.deadLetter(ref);
    if (d.status !== 'waiting') throw new HttpError(409, `this dead letter is ${d.status}; only waiting ones are replayed`);
    const background = asyncFlag(body, dryRun);
    const key = `${c.session!.id}|${ref.topic}/${ref.partition}/${ref.offset}`;
    if (!dryRun && !((this.dryRuns.get(key) ?? 0) > Date.now())) throw new HttpError(409, 'run the dry run of this dead letter first (dryRun: true) and read its diff');
    const run = async () => {
      const out =
        d.direction === 'outbound'
          ? await this.runOutboundReplay(c, this.destinationOf(d.channel), [ref], dryRun, reason)
          : await this.runReplay(c, this.channelOf(d.channel), [ref], {}, dryRun, reason);
      if (dryRun) this.dryRuns.set(key, Date.now() + DRY_RUN_VALID_MS);
      else this.dryRuns.delete(key);
      return { ...out, deadLetter: this.deadLetter(ref) };
    };
    if (background) {
      // One real replay of a dead letter at a time from this console: a second click gets 409.
      this.dryRuns.delete(key);
      return this.startJob(c, 'replay', run);
    }
    return run();
  }

  /**
   * Runs `work` after answering 202 with the job (Location: /api/jobs/{id}); the job holds the
   * answer the synchronous call would have given, or its error's status and reason.
   */
  private startJob(c: Ctx, kind: Job['kind'], work: () => Promise<unknown>): WithHeaders {
    const now = Date.now();
    for (const [id, j] of this.jobs) if (j.finishedAt !== null && Date.parse(j.finishedAt) < now - JOB_KEPT_MS) this.jobs.delete(id);
    const running = [...this.jobs.values()].filter((j) => j.state === 'running').length;
    if (running >= MAX_JOBS) throw new HttpError(503, `${running} replays are running in this console; wait for one to finish`);
    for (const [id, j] of this.jobs) if (this.jobs.size >= MAX_JOBS && j.state !== 'running') this.jobs.delete(id);
    const job: Job = { id: randomUUID(), kind, operator: c.session!.user, startedAt: new Date(now).toISOString(), state: 'running', finishedAt: null, result: null, error: null };
    this.jobs.set(job.id, job);
    void work().then(
      (result) => Object.assign(job, { state: 'done', finishedAt: new Date().toISOString(), result }),
      (err: unknown) => {
        if (!(err instanceof HttpError)) this.opts.logger.error({ job: job.id, err: err instanceof Error ? err.message : String(err) }, 'console replay job failed');
        const error = err instanceof HttpError ? { status: err.status, message: err.message } : { status: 500, message: 'the replay failed; the engine log says why' };
        Object.assign(job, { state: 'failed', finishedAt: new Date().toISOString(), error });
      },
    );
    return new WithHeaders(jobView(job), { location: `/api/jobs/${job.id}` }, 202);
  }

  private job(id: string): unknown {
    const j = this.jobs.get(id);
    if (!j) throw new HttpError(404, 'no such job in this console (jobs are kept for an hour after they finish, and not across a restart; the audit trail has every replay)');
    return jobView(j);
  }

  /**
   * Replay of a whole queue group, as the group decisions select it (channel, category,
   * optionally cause; at most review.maxGroupSize): the dry run of the same members by the same
   * session comes first, and a group that changed since then needs a new dry run. The replay's
   * audit records list the members (selection.offsets) and the ones it resolved.
   */
  private async replayGroup(c: Ctx): Promise<unknown> {
    const body = await c.body();
    const dryRun = body['dryRun'];
    if (typeof dryRun !== 'boolean') throw new HttpError(400, 'dryRun (true or false) is required: a group replay shows its dry-run diff first');
    const reason = str(body, 'reason', !dryRun);
    const { queue, category, cause, members } = this.groupOf(body, 'group replay', 'narrow it by cause, or use hl7-engine replay --from dlq --category for bulk replays');
    const key = `${c.session!.id}|group|${queue.kind}|${queue.name}|${category}|${cause ?? ''}`;
    const list = members.map((d) => `${d.ref.partition}:${d.ref.offset}`).join(',');
    if (!dryRun) {
      const seen = this.groupDryRuns.get(key);
      if (!seen || seen.until <= Date.now()) throw new HttpError(409, 'run the dry run of this group first (dryRun: true) and read its diff');
      if (seen.members !== list) throw new HttpError(409, `the group changed since its dry run (${seen.members.split(',').length} then, ${members.length} now): run the dry run again`);
    }
    const refs = members.map((d) => d.ref);
    const run = async () => {
      const out = queue.kind === 'channel' ? await this.runReplay(c, queue.channel, refs, { category }, dryRun, reason) : await this.runOutboundReplay(c, queue.destination, refs, dryRun, reason);
      if (dryRun) this.groupDryRuns.set(key, { until: Date.now() + DRY_RUN_VALID_MS, members: list });
      else this.groupDryRuns.delete(key);
      return { ...out, count: members.length, deadLetters: members.map((d) => this.deadLetter(d.ref)).map(({ history: _h, ...d }) => d) };
    };
    if (asyncFlag(body, dryRun)) {
      this.groupDryRuns.delete(key);
      return this.startJob(c, 'group-replay', run);
    }
    return run();
  }

  /** One replay of dead letters of `channel` through its current mapping set (dry or real). */
  private async runReplay(c: Ctx, channel: ChannelConfig, refs: readonly RecordRef[], narrow: { category?: string }, dryRun: boolean, reason: string | undefined) {
    let convert;
    try {
      convert = converterForChannel(channel, this.opts.mappingsRoot ? { mappingsRoot: this.opts.mappingsRoot } : {});
    } catch (err) {
      throw new HttpError(409, `the mapping set of ${channel.name} does not load: ${err instanceof Error ? err.message : String(err)}`);
    }
    if (!convert) throw new HttpError(409, `channel ${channel.name} names no mapping set; nothing to replay through`);
    const lines: string[] = [];
    const report = await replay({
      kafka: this.opts.kafka,
      channel,
      convert,
      checkpointDir: this.opts.checkpointDir ?? resolve(defaultCheckpointDir(process.env)),
      operator: c.session!.user,
      selection: { source: 'dlq', ...narrow, offsets: refs.map((r) => ({ partition: r.partition, offset: r.offset })), dryRun },
      ...(reason ? { reason } : {}),
      ...(this.opts.auditTopic ? { auditTopic: this.opts.auditTopic } : {}),
      onLine: (l) => lines.push(l),
    });
    if (!dryRun) await this.opts.indexer.caughtUp(15_000);
    return { dryRun, replayId: dryRun ? null : report.replayId, outcome: report.outcome, counts: report.counts, diff: lines };
  }

  /**
   * One replay of a destination's dead letters through the outbound replay path (replayOutbound,
   * as `hl7-engine replay --destination`): the stored message sent again to the receiver, or
   * built again with the destination's current outbound set when none was stored. The dry run
   * sends nothing and lists what would be sent.
   */
  private async runOutboundReplay(c: Ctx, d: Destination, refs: readonly RecordRef[], dryRun: boolean, reason: string | undefined) {
    let outbound: OutboundSet | null = null;
    if (!d.mapping.passThrough) {
      try {
        outbound = loadOutboundSet(d.mapping.outbound, d.mapping.site ? { site: d.mapping.site } : {});
      } catch (err) {
        throw new HttpError(409, `the outbound mapping set of destination ${d.name} does not load: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
    const lines: string[] = [];
    const report = await replayOutbound({
      kafka: this.opts.kafka,
      destination: d,
      outbound,
      operator: c.session!.user,
      selection: { source: 'dlq', offsets: refs.map((r) => ({ partition: r.partition, offset: r.offset })), dryRun },
      ...(reason ? { reason } : {}),
      ...(this.opts.auditTopic ? { auditTopic: this.opts.auditTopic } : {}),
      onLine: (l) => lines.push(l),
    });
    if (!dryRun) await this.opts.indexer.caughtUp(15_000);
    return { dryRun, replayId: dryRun ? null : report.replayId, outcome: report.outcome, counts: report.counts, diff: lines };
  }

  /**
   * Edit-and-resubmit: the corrected text is checked as ingest checks a frame (422 with the
   * reason, nothing written, when it fails), then the audit record is stored, then the new raw
   * record, linked to the dead letter. The answer carries the segment diff: the operator sent
   * the text and the decision that shows it is already in the audit topic.
   */
  private async resubmit(c: Ctx): Promise<unknown> {
    const ref = refFrom(c.params);
    const body = await c.body();
    const text = body['text'];
    if (typeof text !== 'string' || text.trim() === '') throw new HttpError(400, 'text (the corrected message, segments one per line) is required');
    const reason = str(body, 'reason')!;
    const d = this.deadLetter(ref);
    if (d.direction === 'outbound') {
      // The dead letter holds a message the engine built, not one a sender sent: an edited copy
      // would be stored nowhere a destination reads (its source is a channel's record) and would
      // bypass the mapping that built it. Fix the mapping or the receiver, then replay.
      throw new HttpError(409, 'an outbound dead letter cannot be edited and resubmitted: it holds a message the engine built for a destination; fix the outbound mapping or the receiver and replay it');
    }
    if (d.status !== 'waiting') throw new HttpError(409, `this dead letter is ${d.status}; only waiting ones are resubmitted`);
    const channel = this.channelOf(d.channel);
    const key = `${ref.topic}/${ref.partition}/${ref.offset}`;
    if (this.resubmitting.has(key)) throw new HttpError(409, 'this dead letter is being resubmitted by another request');
    this.resubmitting.add(key);
    try {
      const r = await readRecordAt(this.opts.kafka, ref);
      if (!r) throw new HttpError(404, 'Kafka no longer holds that dead letter (retention)');
      const letter = readDeadLetter(r);
      let plan;
      try {
        plan = planResubmit(channel, letter, text, new Date());
      } catch (err) {
        if (err instanceof EditRefused) throw new HttpError(422, `nothing resubmitted: ${err.message}`);
        throw err;
      }
      try {
        const done = await resubmit(this.opts.kafka, channel, letter, plan, { operator: c.session!.user, reason, ...(this.opts.auditTopic ? { auditTopic: this.opts.auditTopic } : {}) });
        await this.opts.indexer.caughtUp(15_000);
        return { decision: done.decision, finished: done.finished, newRecord: done.newRecord, diff: plan.diff, deadLetter: this.deadLetter(ref) };
      } catch (err) {
        if (err instanceof ResubmitFailed) throw new HttpError(503, `the decision is recorded (audit record ${err.decision.id}) but ${err.message}; the dead letter stays waiting, try again`);
        throw err;
      }
    } finally {
      this.resubmitting.delete(key);
    }
  }

  private async content(c: Ctx): Promise<unknown> {
    const ref = refFrom(c.params);
    const reason = str(await c.body(), 'reason')!;
    const row = this.opts.queries.recordKind(ref);
    if (!row) throw new HttpError(404, 'no record at that position in the index');
    const record = newAuditRecord({
      kind: 'content-shown',
      channel: row.channel,
      reason,
      operator: c.session!.user,
      outcome: 'shown',
      shown: [{ ...ref, controlId: row.controlId }],
    });
    // Written and acknowledged before a byte of content is read, let alone sent.
    await writeAudit(this.opts.kafka, record, this.opts.auditTopic);
    const r = await readRecordAt(this.opts.kafka, ref);
    if (!r?.value) throw new HttpError(404, 'Kafka no longer holds that record (retention)');
    const value = JSON.parse(r.value.toString('utf8')) as Record<string, unknown>;
    if (row.kind === 'fhir') return { ref, audit: record.id, bundle: value };
    // An outbound dead letter: the v2 message as it was sent to the destination.
    if (row.kind === 'outbound-dlq') return { ref, audit: record.id, text: value['message'] ?? null, rawBase64: null };
    return { ref, audit: record.id, text: value['text'] ?? null, rawBase64: value['raw'] ?? null };
  }
}

/** A dead-letter queue: a channel's, or a write-back destination's. */
type Queue = { kind: 'channel'; name: string; channel: ChannelConfig } | { kind: 'destination'; name: string; destination: Destination };

const GROUP_DECISION_LARGER = "narrow it by cause, or raise the channel's review.maxGroupSize (at most 2000)";

const ACTIONS: readonly DecisionAction[] = ['resolve', 'discard', 'assign', 'escalate'];

/** What a decision body asks for: the same fields for one dead letter and for a group. */
function decisionFrom(body: Record<string, unknown>): { action: DecisionAction; reason: string; assignee?: string } {
  const action = str(body, 'action') as DecisionAction;
  if (!ACTIONS.includes(action)) throw new HttpError(400, 'action must be resolve, discard, assign or escalate (replay has its own endpoint)');
  const reason = str(body, 'reason')!;
  if (action !== 'assign') return { action, reason };
  return { action, reason, assignee: str(body, 'assignee')! };
}

/** `async: true` on a real replay: answer 202 with a job instead of waiting for the replay. */
function asyncFlag(body: Record<string, unknown>, dryRun: boolean): boolean {
  const v = body['async'];
  if (v === undefined) return false;
  if (typeof v !== 'boolean') throw new HttpError(400, 'async must be true or false');
  if (v && dryRun) throw new HttpError(400, 'a dry run answers at once; async is for the real replay');
  return v;
}

function jobView(j: Job): object {
  return { id: j.id, kind: j.kind, operator: j.operator, startedAt: j.startedAt, state: j.state, finishedAt: j.finishedAt, result: j.result, error: j.error };
}

/** An answer with response headers of its own (the Link to a next page, a job's Location) and its status. */
class WithHeaders {
  constructor(
    readonly body: unknown,
    readonly headers: Record<string, string>,
    readonly status = 200,
  ) {}
}

class LoginResponse {
  constructor(
    readonly body: unknown,
    readonly cookie: string,
  ) {}
}

async function readJson(req: IncomingMessage, maxBody: number): Promise<Record<string, unknown>> {
  const type = req.headers['content-type'] ?? '';
  if (!/^application\/json\b/i.test(type)) throw new HttpError(415, 'send a JSON body (Content-Type: application/json)');
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > maxBody) throw new HttpError(413, `the body is larger than ${maxBody} bytes`);
    chunks.push(chunk as Buffer);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    throw new HttpError(400, 'the body is not valid JSON');
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new HttpError(400, 'the body must be a JSON object');
  return parsed as Record<string, unknown>;
}
