/**
 * Keeps one member of a consumer group alive: when the member stops by itself (kafkajs gave up,
 * the group fenced it, its start failed), whatever is left of it is disconnected and a NEW member
 * is started after a backoff, again and again, until stop(). A kafkajs consumer that crashed with
 * `restart: false` never consumes again, so the only reliable recovery is a fresh one.
 *
 * Knows nothing about Kafka: a member is anything that can be started, tells when it is
 * consuming and when it stopped, and can be aborted. That keeps the lifecycle testable with
 * plain fakes and real timers.
 */
import { backoffDelay } from '../kafka/retry.js';

/**
 * Why a member stopped: a small fixed set, used as a metric label (never an error message, which
 * can name topics or carry broker text).
 */
export type StopReason = 'connection' | 'rebalance' | 'fenced' | 'crash' | 'start-failed' | 'stalled';

export const STOP_REASONS: readonly StopReason[] = ['connection', 'rebalance', 'fenced', 'crash', 'start-failed', 'stalled'];

export interface MemberStopped {
  readonly reason: StopReason;
  /** The error's name (e.g. KafkaJSNumberOfRetriesExceeded), for the log line. */
  readonly error: string;
}

/** What a member is told to report. Calls from a member that was replaced are ignored. */
export interface MemberEvents {
  /** Consuming (joined the group and fetching). */
  up(): void;
  /** Stopped by itself and will not consume again. */
  stopped(why: MemberStopped): void;
}

export interface SupervisedMember {
  /** Leaves the group after finishing what it holds. */
  stop(): Promise<void>;
  /** Leaves at once, committing nothing more (what is left of a member that stopped). */
  abort(): Promise<void>;
}

export interface SupervisorOptions<M extends SupervisedMember> {
  /** Creates and starts a new member; rejects when it could not start. */
  readonly startMember: (events: MemberEvents) => Promise<M>;
  /** Delay before restart n: doubles from `initialMs` up to `maxMs`, with jitter. */
  readonly backoff?: { readonly initialMs: number; readonly maxMs: number };
  /** How long disconnecting what is left of a stopped member may take before it is let go. */
  readonly abortTimeoutMs?: number;
  readonly random?: () => number;
  /** The member is consuming (first start or a restart). */
  readonly onUp?: (restarts: number) => void;
  /** The member stopped; a new one starts in `retryInMs`. */
  readonly onDown?: (why: MemberStopped, retryInMs: number, attempt: number) => void;
  /** A new member is being started after `why`. */
  readonly onRestart?: (why: MemberStopped, attempt: number) => void;
}

export const DEFAULT_RESTART_BACKOFF = { initialMs: 500, maxMs: 30_000 } as const;

/** Equal jitter: at least half the step, so a restart never comes right back at a broker still down. */
const JITTER = 0.5;

export class Supervisor<M extends SupervisedMember> {
  private readonly opts: SupervisorOptions<M>;
  private member: M | null = null;
  /** Bumped for every member started; events from older ones are stale. */
  private generation = 0;
  private isUp = false;
  private stopped = false;
  private timer: NodeJS.Timeout | null = null;
  /** Restarts since the member was last consuming (drives the backoff). */
  private failures = 0;
  private restarts = 0;
  /** The start or abort under way, so stop() waits for it instead of racing it. */
  private busy: Promise<unknown> = Promise.resolve();

  constructor(opts: SupervisorOptions<M>) {
    this.opts = opts;
  }

  /** True while the current member is consuming. */
  get up(): boolean {
    return this.isUp;
  }

  /** The member running now (null while waiting to restart). */
  get current(): M | null {
    return this.member;
  }

  /** Members started after the first. */
  get restartCount(): number {
    return this.restarts;
  }

  /**
   * Starts the first member. Resolves once it started, or once its failure is handed to the
   * restart loop: a supervised stage never fails the engine's start, it keeps trying.
   */
  async start(): Promise<void> {
    if (this.stopped) throw new Error('a stopped supervisor cannot start again');
    await this.launch(null);
  }

  /** Stops the member (finishing its work) or cancels a pending restart; no timer is left behind. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.isUp = false;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.busy.catch(() => undefined);
    const m = this.member;
    this.member = null;
    if (m) await m.stop();
  }

  private events(generation: number): MemberEvents {
    return {
      up: () => {
        if (generation !== this.generation || this.stopped) return;
        this.failures = 0;
        this.isUp = true;
        this.opts.onUp?.(this.restarts);
      },
      stopped: (why) => {
        if (generation !== this.generation || this.stopped) return;
        // Once per member: a second report from the same one must not start two replacements.
        this.generation++;
        this.down(why);
      },
    };
  }

  private launch(after: MemberStopped | null): Promise<void> {
    const generation = ++this.generation;
    const run = (async () => {
      if (after) {
        this.restarts++;
        this.opts.onRestart?.(after, this.failures);
      }
      let member: M;
      try {
        member = await this.opts.startMember(this.events(generation));
      } catch (err) {
        if (generation !== this.generation || this.stopped) return;
        this.generation++;
        this.down({ reason: 'start-failed', error: err instanceof Error ? err.name : 'unknown' });
        return;
      }
      // stop() came while it was starting, or it already reported stopping during its start.
      if (this.stopped) {
        await member.stop().catch(() => undefined);
        return;
      }
      // It already reported stopping during its start: a replacement is scheduled, this one goes.
      if (generation !== this.generation) {
        this.retire(member);
        return;
      }
      this.member = member;
    })();
    this.busy = run;
    return run;
  }

  private down(why: MemberStopped): void {
    this.isUp = false;
    const attempt = ++this.failures;
    const delay = backoffDelay({ ...(this.opts.backoff ?? DEFAULT_RESTART_BACKOFF), jitter: JITTER }, attempt, this.opts.random);
    this.opts.onDown?.(why, delay, attempt);
    const left = this.member;
    this.member = null;
    if (left) this.retire(left);
    this.timer = setTimeout(() => {
      this.timer = null;
      if (!this.stopped) void this.launch(why);
    }, delay);
  }

  /** Disconnects what is left of a member that stopped, bounded so a dead broker cannot hold it. */
  private retire(member: M): void {
    let bound: NodeJS.Timeout | undefined;
    const done = Promise.race([
      member.abort().catch(() => undefined),
      new Promise<void>((r) => {
        bound = setTimeout(r, this.opts.abortTimeoutMs ?? 10_000);
      }),
    ]).finally(() => clearTimeout(bound));
    this.busy = Promise.all([this.busy, done]);
  }
}
