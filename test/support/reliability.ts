/**
 * Helpers for the zero-loss tests (test/reliability) and the fuzzing tests (test/property):
 *
 * - EngineProcess: the real `hl7-engine start` as a child process, so a test can kill -9 it,
 *   restart it and read its memory from /proc the way an operator would.
 * - ResilientLane: a sender that behaves like a well-written hospital system: one message at a
 *   time on its connection, and anything that got no AA (AE, no answer, connection gone) is sent
 *   again, byte for byte, until it gets AA.
 * - The ledger and audits that turn "nothing lost" into counts: what was sent, what got AA, and
 *   what the raw and fhir topics hold for each message.
 * - recordFigures: the figures scripts/reliability-report.mjs turns into RELIABILITY.md.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO_DIR } from './repo.js';
import { RawMllpClient, readAck } from './mllp-client.js';
import { readTopic, type ReadRecord } from './kafka.js';

export const CLI = join(REPO_DIR, 'dist', 'src', 'cli.js');
export const MAPPINGS_ROOT = join(REPO_DIR, 'mappings');
/** One JSON file per test file; the report script merges them (see scripts/reliability-report.mjs). */
export const FIGURES_DIR = join(REPO_DIR, 'dist', 'reliability-figures');

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

// ---------------------------------------------------------------------------------------------
// Channel files and the engine child process

export interface ChannelFileOptions {
  readonly name: string;
  readonly port: number;
  /** Names a mapping set under mappings/ (e.g. "default"); omitted = ingest only. */
  readonly mapping?: string;
  readonly ackTimeoutMs?: number;
  readonly maxFrameBytes?: number;
  readonly idleTimeoutSeconds?: number;
  readonly maxConnections?: number;
  readonly maxConnectionsPerAddress?: number;
  readonly frameTimeoutSeconds?: number;
  readonly closeGraceSeconds?: number;
  readonly maxBufferedBytes?: number;
}

/** A channels folder holding one channel file, as an operator would write it. */
export function writeChannelDir(o: ChannelFileOptions): string {
  const dir = mkdtempSync(join(tmpdir(), 'hl7-reliability-'));
  const lines = [
    `name: ${o.name}`,
    'listener:',
    '  host: 127.0.0.1',
    `  port: ${o.port}`,
    ...(o.maxFrameBytes !== undefined ? [`  maxFrameBytes: ${o.maxFrameBytes}`] : []),
    ...(o.idleTimeoutSeconds !== undefined ? [`  idleTimeoutSeconds: ${o.idleTimeoutSeconds}`] : []),
    ...(o.maxConnections !== undefined ? [`  maxConnections: ${o.maxConnections}`] : []),
    ...(o.maxConnectionsPerAddress !== undefined ? [`  maxConnectionsPerAddress: ${o.maxConnectionsPerAddress}`] : []),
    ...(o.frameTimeoutSeconds !== undefined ? [`  frameTimeoutSeconds: ${o.frameTimeoutSeconds}`] : []),
    ...(o.closeGraceSeconds !== undefined ? [`  closeGraceSeconds: ${o.closeGraceSeconds}`] : []),
    ...(o.maxBufferedBytes !== undefined ? [`  maxBufferedBytes: ${o.maxBufferedBytes}`] : []),
    'ack:',
    '  mode: original',
    `  timeoutMs: ${o.ackTimeoutMs ?? 5000}`,
    ...(o.mapping !== undefined ? [`mapping: ${o.mapping}`] : []),
  ];
  writeFileSync(join(dir, `${o.name}.yaml`), lines.join('\n') + '\n');
  return dir;
}

/** Keeps the last `max` characters of a stream, so a chatty child never grows our memory. */
class Tail {
  private text = '';
  constructor(private readonly max: number) {}
  push(chunk: Buffer): void {
    this.text += chunk.toString('utf8');
    if (this.text.length > this.max * 2) this.text = this.text.slice(-this.max);
  }
  toString(): string {
    return this.text.slice(-this.max);
  }
}

export interface EngineProcessOptions {
  readonly channelsDir: string;
  readonly brokers: string;
  readonly startTimeoutMs?: number;
  readonly logLevel?: string;
  /**
   * Ready as soon as this MLLP port accepts connections. The listener binds before the transform
   * worker has joined its consumer group, which after a kill -9 waits for the dead member's
   * session to expire; senders are served during that wait, so it is not part of the restart.
   */
  readonly port?: number;
  /** V8 options for the engine's node (before the script), e.g. to pin the heap's sizing. */
  readonly nodeOptions?: readonly string[];
  /** `start --role` (default: none given, i.e. all). A transform-only process is ready once it prints its transform line. */
  readonly role?: 'ingest' | 'transform' | 'all';
  /** More `start` options, after the others (e.g. --transform-inline). */
  readonly extraArgs?: readonly string[];
}

/**
 * `node dist/src/cli.js start --channels DIR --mappings mappings/` with KAFKA_BROKERS set. Ready
 * once it prints the "channel …: send MLLP … to host:port" line, which comes after topics exist,
 * the duplicate memory is rebuilt, the listener is bound and the transform worker has started.
 */
export class EngineProcess {
  private readonly out = new Tail(64 * 1024);
  private readonly exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private exitInfo: { code: number | null; signal: NodeJS.Signals | null } | null = null;
  /** Read from the start banner (the output tail may have moved past it later). */
  private ops: string | null = null;

  private constructor(
    private readonly child: ChildProcess,
    readonly pid: number,
  ) {
    child.stdout?.on('data', (c: Buffer) => this.out.push(c));
    child.stderr?.on('data', (c: Buffer) => this.out.push(c));
    this.exit = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        this.exitInfo = { code, signal };
        resolve({ code, signal });
      });
    });
  }

  static async start(o: EngineProcessOptions): Promise<EngineProcess> {
    const child = spawn(process.execPath, [...(o.nodeOptions ?? []), CLI, 'start', '--channels', o.channelsDir, '--mappings', MAPPINGS_ROOT, ...(o.role ? ['--role', o.role] : []), ...(o.extraArgs ?? [])], {
      cwd: REPO_DIR,
      env: { ...process.env, KAFKA_BROKERS: o.brokers, METRICS_PORT: '0', LOG_LEVEL: o.logLevel ?? 'warn' },
      stdio: ['ignore', 'pipe', 'pipe'],
      // A process group of its own, so kill9() takes the transform process `start` runs with it,
      // as a container kill or an OOM kill of the service would.
      detached: true,
    });
    if (child.pid === undefined) throw new Error('could not spawn the engine process');
    const engine = new EngineProcess(child, child.pid);
    const deadline = Date.now() + (o.startTimeoutMs ?? 90_000);
    const ready = o.role === 'transform' ? /channel \S+: transform / : /channel \S+: send MLLP/;
    while (!ready.test(engine.out.toString()) && !(o.role !== 'transform' && o.port !== undefined && (await accepts(o.port)))) {
      if (engine.exitInfo) {
        throw new Error(`engine exited during start (code ${engine.exitInfo.code}, signal ${engine.exitInfo.signal}):\n${engine.output()}`);
      }
      if (Date.now() > deadline) {
        await engine.kill9();
        throw new Error(`engine did not report its listener within ${o.startTimeoutMs ?? 90_000} ms:\n${engine.output()}`);
      }
      await sleep(50);
    }
    engine.ops = /operations: (http:\/\/\S+?)\/metrics/.exec(engine.out.toString())?.[1] ?? null;
    return engine;
  }

  get running(): boolean {
    return this.exitInfo === null;
  }

  /** What the child printed last (its logs carry no PHI by design), for failure messages. */
  output(): string {
    return this.out.toString();
  }

  /** The operations server's base URL, as the engine printed it at start. */
  opsUrl(): string {
    if (!this.ops) throw new Error('the engine did not print its operations address');
    return this.ops;
  }

  /** One sample of a Prometheus metric from /metrics (summed over matching series), or null. */
  async metric(name: string, labels: Readonly<Record<string, string>> = {}): Promise<number | null> {
    const text = await (await fetch(`${this.opsUrl()}/metrics`)).text();
    let sum: number | null = null;
    for (const line of text.split('\n')) {
      if (!line.startsWith(name) || (line[name.length] !== '{' && line[name.length] !== ' ')) continue;
      if (!Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) continue;
      const value = Number(line.slice(line.lastIndexOf(' ') + 1));
      if (Number.isFinite(value)) sum = (sum ?? 0) + value;
    }
    return sum;
  }

  /** Resident memory in KiB from /proc/<pid>/status, or null once the process is gone. */
  rssKb(): number | null {
    return rssKb(this.pid);
  }

  /**
   * SIGKILL to the engine and its transform process together: no shutdown hook runs, in-flight
   * ACKs and uncommitted offsets are simply lost.
   */
  async kill9(): Promise<void> {
    if (this.exitInfo) return;
    try {
      process.kill(-this.pid, 'SIGKILL');
    } catch {
      this.child.kill('SIGKILL');
    }
    await this.exit;
  }

  /** SIGTERM (the engine finishes in-flight ACKs), SIGKILL if that takes longer than graceMs. */
  async stop(graceMs = 20_000): Promise<void> {
    if (this.exitInfo) return;
    this.child.kill('SIGTERM');
    const t = setTimeout(() => this.child.kill('SIGKILL'), graceMs);
    await this.exit;
    clearTimeout(t);
  }
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

export function rssKb(pid: number): number | null {
  try {
    const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, 'latin1'));
    return m ? Number(m[1]) : null;
  } catch {
    return null;
  }
}

// ---------------------------------------------------------------------------------------------
// Messages and the ledger of what happened to each

export const SENDER_APP = 'RELSEND';
export const SENDER_FACILITY = 'GENHOSP';

/**
 * An ADT^A01 whose patient (PID-3) and visit (PV1-19) belong to this message alone, so its Bundle's
 * resources have ids no other message shares and "converted once" can be counted by resource id.
 * The text is synthetic: no real person.
 */
export function adtFor(controlId: string): Buffer {
  return Buffer.from(
    `MSH|^~\\&|${SENDER_APP}|${SENDER_FACILITY}|HL7ENGINE|GENHOSP|20261121083000||ADT^A01^ADT_A01|${controlId}|P|2.5.1\r` +
      `EVN|A01|20261121083000\r` +
      `PID|1||M${controlId}^^^GENHOSP^MR||TEST^PATIENT||19700101|F\r` +
      `PV1|1|I|4WEST^412^B^GENHOSP||||||||||||||||V${controlId}^^^GENHOSP^VN\r`,
    'latin1',
  );
}

export function sha256(bytes: Buffer | string): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** What the senders know about one message: the figures are counted from these. */
export interface SentMessage {
  readonly controlId: string;
  readonly bytes: Buffer;
  /** sender|MSH-10|sha256(bytes): the identity the engine's duplicate memory uses. */
  readonly identity: string;
  transmissions: number;
  /** Time of the first AA, or null while the message has none. */
  ackedAt: number | null;
  readonly codes: string[];
}

/** One send and what came back: code null = no answer (timeout, connection lost or refused). */
export interface Exchange {
  readonly controlId: string;
  readonly lane: number;
  readonly sentAt: number;
  readonly answeredAt: number;
  readonly code: string | null;
}

export class Ledger {
  readonly messages = new Map<string, SentMessage>();
  readonly exchanges: Exchange[] = [];

  add(controlId: string, bytes: Buffer): SentMessage {
    const m: SentMessage = { controlId, bytes, identity: identityOf(SENDER_APP, SENDER_FACILITY, controlId, bytes), transmissions: 0, ackedAt: null, codes: [] };
    this.messages.set(controlId, m);
    return m;
  }

  get acked(): SentMessage[] {
    return [...this.messages.values()].filter((m) => m.ackedAt !== null);
  }

  get transmissions(): number {
    return this.exchanges.length;
  }
}

export function identityOf(app: string, facility: string, controlId: string, bytes: Buffer): string {
  return `${app}|${facility}|${controlId}|${sha256(bytes)}`;
}

// ---------------------------------------------------------------------------------------------
// The resilient sender

export interface LaneOptions {
  readonly lane: number;
  readonly port: number;
  readonly ledger: Ledger;
  /** How long to wait for an answer before giving up on the connection and resending. */
  readonly answerTimeoutMs?: number;
  /** Pause before reconnecting after the connection was lost or refused. */
  readonly reconnectDelayMs?: number;
  /** Pause before resending after an AE on a healthy connection. */
  readonly resendDelayMs?: number;
}

/**
 * One connection's worth of a sending system. `deliver` sends one message and keeps resending
 * the same bytes until it gets AA or the deadline passes. A timed-out connection is closed
 * before the resend (as real senders do), so a late answer can never be taken for the next one.
 */
export class ResilientLane {
  private client: RawMllpClient | null = null;
  private readonly o: Required<LaneOptions>;
  reconnects = 0;

  constructor(o: LaneOptions) {
    this.o = { answerTimeoutMs: 10_000, reconnectDelayMs: 200, resendDelayMs: 100, ...o };
  }

  private async connection(deadline: () => number): Promise<RawMllpClient | null> {
    while (Date.now() < deadline()) {
      if (this.client && !this.client.isClosed) return this.client;
      this.client?.close();
      this.client = null;
      try {
        this.client = await RawMllpClient.open(this.o.port);
        this.reconnects++;
        return this.client;
      } catch {
        await sleep(this.o.reconnectDelayMs);
      }
    }
    return null;
  }

  /**
   * True once the message got AA; false if the deadline passed first (the sender still has it).
   * The deadline is read again before each attempt, so a stream can shorten it while waiting.
   */
  async deliver(m: SentMessage, deadline: number | (() => number)): Promise<boolean> {
    const until = typeof deadline === 'number' ? () => deadline : deadline;
    const { ledger, lane } = this.o;
    while (Date.now() < until()) {
      const client = await this.connection(until);
      if (!client) return false;
      const sentAt = Date.now();
      m.transmissions++;
      const answer = await client.roundTrip(m.bytes, this.o.answerTimeoutMs);
      const ack = answer ? readAck(answer) : null;
      const answeredAt = Date.now();
      ledger.exchanges.push({ controlId: m.controlId, lane, sentAt, answeredAt, code: ack?.code ?? null });
      if (ack) m.codes.push(ack.code);
      if (ack && ack.controlId !== m.controlId) {
        // An answer to something else means the stream is out of step: start a new connection.
        this.drop();
        continue;
      }
      if (ack?.code === 'AA' || ack?.code === 'CA') {
        m.ackedAt ??= answeredAt;
        return true;
      }
      if (!ack) {
        this.drop();
        await sleep(this.o.reconnectDelayMs);
      } else {
        await sleep(this.o.resendDelayMs);
      }
    }
    return false;
  }

  private drop(): void {
    this.client?.close();
    this.client = null;
  }

  close(): void {
    this.drop();
  }
}

export interface StreamOptions {
  readonly port: number;
  readonly ledger: Ledger;
  readonly lanes: number;
  /** Prefix of every control id, so streams of different tests never meet. */
  readonly tag: string;
  /** Pause between two messages of one lane (after the first one's AA). */
  readonly gapMs: number;
  readonly answerTimeoutMs?: number;
}

/**
 * Steady traffic from several connections until stop() is called; then each lane keeps
 * resending its last message until it is AA'd or `drainDeadline` passes.
 */
export class SteadyStream {
  private running = true;
  private drainDeadline = Number.POSITIVE_INFINITY;
  private readonly done: Promise<void>;
  readonly laneObjects: ResilientLane[] = [];

  constructor(private readonly o: StreamOptions) {
    this.done = Promise.all(Array.from({ length: o.lanes }, (_, i) => this.lane(i))).then(() => undefined);
  }

  private async lane(i: number): Promise<void> {
    const lane = new ResilientLane({ lane: i, port: this.o.port, ledger: this.o.ledger, ...(this.o.answerTimeoutMs ? { answerTimeoutMs: this.o.answerTimeoutMs } : {}) });
    this.laneObjects.push(lane);
    let n = 0;
    try {
      while (this.running) {
        const controlId = `${this.o.tag}${i}-${++n}`;
        const m = this.o.ledger.add(controlId, adtFor(controlId));
        // Until stop(), a lane never gives up on a message; afterwards it has until the drain deadline.
        if (!(await lane.deliver(m, () => this.drainDeadline))) return;
        await sleep(this.o.gapMs);
      }
    } finally {
      lane.close();
    }
  }

  /** Stops starting new messages and waits for the lanes to settle what they hold. */
  async stop(drainMs: number): Promise<void> {
    this.running = false;
    this.drainDeadline = Date.now() + drainMs;
    await this.done;
  }
}

// ---------------------------------------------------------------------------------------------
// Audits of the topics

interface RawEnvelopeView {
  readonly raw: string;
  readonly msh: { readonly sendingApplication: string; readonly sendingFacility: string; readonly controlId: string } | null;
}

/** Raw records by message identity (sender|MSH-10|bytes hash): after dedupe each counts once. */
export class RawAudit {
  readonly copies = new Map<string, number>();
  records = 0;

  /** Audits the records not seen yet (readTopic hands over the growing list); returns their identities. */
  take(all: readonly ReadRecord[]): string[] {
    const ids: string[] = [];
    while (this.records < all.length) {
      const id = this.add(all[this.records]!);
      if (id) ids.push(id);
    }
    return ids;
  }

  add(r: ReadRecord): string | null {
    this.records++;
    const env = JSON.parse(r.value.toString('utf8')) as RawEnvelopeView;
    if (!env.msh) return null;
    const id = identityOf(env.msh.sendingApplication, env.msh.sendingFacility, env.msh.controlId, Buffer.from(env.raw, 'base64'));
    this.copies.set(id, (this.copies.get(id) ?? 0) + 1);
    return id;
  }

  has(identity: string): boolean {
    return this.copies.has(identity);
  }

  /** Records beyond the first for one message (stored twice; dedupe downstream absorbs them). */
  get extraCopies(): number {
    let n = 0;
    for (const c of this.copies.values()) n += c - 1;
    return n;
  }
}

interface BundleView {
  readonly id?: string;
  readonly entry?: ReadonlyArray<{ readonly fullUrl?: string; readonly resource?: { readonly resourceType?: string } }>;
}

/**
 * Bundles on the fhir topic, by control id and by resource id. A Bundle delivered again after a
 * crash is an identical copy (conversion is deterministic) and upserts absorb it; a resource id
 * seen with two different contents is a real duplicate, which must never happen.
 */
export class FhirAudit {
  /** control id → distinct Bundle values seen (as hashes) and how many records. */
  readonly byControlId = new Map<string, { values: Set<string>; records: number }>();
  /** resource id (fullUrl) → distinct resource contents (hashes). */
  private readonly byResource = new Map<string, Set<string>>();
  records = 0;

  /** Audits the records not seen yet; returns their control ids. */
  take(all: readonly ReadRecord[]): string[] {
    const ids: string[] = [];
    while (this.records < all.length) ids.push(this.add(all[this.records]!));
    return ids;
  }

  add(r: ReadRecord): string {
    this.records++;
    const id = r.headers['hl7_control_id'] ?? '';
    const valueHash = sha256(r.value);
    const seen = this.byControlId.get(id) ?? { values: new Set<string>(), records: 0 };
    seen.values.add(valueHash);
    seen.records++;
    this.byControlId.set(id, seen);
    if (seen.records > 1 && seen.values.size === 1) return id; // an identical copy adds nothing new
    const bundle = JSON.parse(r.value.toString('utf8')) as BundleView;
    for (const e of bundle.entry ?? []) {
      if (!e.fullUrl || !e.resource) continue;
      const contents = this.byResource.get(e.fullUrl) ?? new Set<string>();
      contents.add(sha256(JSON.stringify(e.resource)));
      this.byResource.set(e.fullUrl, contents);
    }
    return id;
  }

  has(controlId: string): boolean {
    return this.byControlId.has(controlId);
  }

  /** Records beyond the first for one message, all byte-identical to the first. */
  get identicalCopies(): number {
    let n = 0;
    for (const s of this.byControlId.values()) if (s.values.size === 1) n += s.records - 1;
    return n;
  }

  /** Messages with two different Bundles, plus resource ids with two different contents. */
  get distinctContentDuplicates(): number {
    let n = 0;
    for (const s of this.byControlId.values()) if (s.values.size > 1) n++;
    for (const c of this.byResource.values()) if (c.size > 1) n++;
    return n;
  }

  get resourceIds(): number {
    return this.byResource.size;
  }
}

// ---------------------------------------------------------------------------------------------
// Figures for RELIABILITY.md

export interface Figures {
  /** One of the scenarios scripts/reliability-report.mjs expects. */
  readonly scenario: 'kill-9' | 'broker-outage' | 'replay' | 'flood' | 'property' | 'hostile-keys' | 'hostile-connections';
  /** A short title for the table row. */
  readonly title: string;
  readonly sent?: number;
  readonly transmissions?: number;
  readonly acked?: number;
  readonly foundRaw?: number;
  readonly foundDownstream?: number;
  readonly lost?: number;
  readonly duplicatesDownstream?: number;
  readonly faultsInjected?: Readonly<Record<string, number>>;
  readonly inputsFuzzed?: number;
  /** Anything else worth a line in the report (durations, RSS, copies). */
  readonly details?: Readonly<Record<string, number | string>>;
}

/**
 * Where a scenario got to, for the report: `started` (it failed before its figures were in),
 * `recorded` (figures in, then an assertion or the cleanup failed) or `passed`. A scenario whose
 * file still says `started` or `recorded` after the run is reported FAILED.
 */
export type ScenarioOutcome = 'started' | 'recorded' | 'passed';

function writeScenarioFile(key: string, body: Record<string, unknown>): void {
  mkdirSync(FIGURES_DIR, { recursive: true });
  writeFileSync(join(FIGURES_DIR, `${key}.json`), JSON.stringify({ ...body, at: new Date().toISOString() }, null, 2) + '\n');
}

/** First thing a scenario does: replaces figures of an earlier run with "started, no figures yet". */
export function scenarioStarted(key: string, scenario: Figures['scenario'], title: string): void {
  writeScenarioFile(key, { scenario, title, outcome: 'started' satisfies ScenarioOutcome });
}

/** Writes this test file's figures for the report; `key` names the file (one per test file). */
export function recordFigures(key: string, figures: Figures): void {
  writeScenarioFile(key, { ...figures, outcome: 'recorded' satisfies ScenarioOutcome });
}

/** Last thing a scenario does, after its final assertion: its recorded figures stand for a pass. */
export function scenarioPassed(key: string): void {
  const file = join(FIGURES_DIR, `${key}.json`);
  const recorded = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
  if (recorded['outcome'] !== 'recorded') throw new Error(`${file}: scenarioPassed before recordFigures`);
  writeScenarioFile(key, { ...recorded, outcome: 'passed' satisfies ScenarioOutcome });
}

/** Reads a topic into an audit until every wanted key has been seen, or the time runs out. */
export async function readUntilSeen(
  topic: string,
  audit: { take(all: readonly ReadRecord[]): string[] },
  wanted: Iterable<string>,
  opts: { readonly list: string[]; readonly timeoutMs: number },
): Promise<void> {
  const waiting = new Set(wanted);
  await readTopic(topic, {
    list: opts.list,
    timeoutMs: opts.timeoutMs,
    until: (records) => {
      for (const id of audit.take(records)) waiting.delete(id);
      return waiting.size === 0;
    },
  });
}
