/**
 * A real single-node Apache Kafka broker (KRaft, combined broker+controller) run from the jars
 * assemble.ts fetched, for `npm start` on a fresh machine, the test suite and the benchmarks. No
 * Docker, no fake. Development tooling only: the engine itself takes $KAFKA_BROKERS.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { assembleKafka, defaultCacheDir, KAFKA_VERSION, loggingFor } from './assemble.js';
import { canConnect, freePort } from './net.js';

export interface LocalKafkaOptions {
  /** Names the data folder and the pid file, so `down` finds what `up` started. */
  readonly name: string;
  /** Kafka release to run (default KAFKA_VERSION); each has its own jar folder in the cache. */
  readonly version?: string;
  /** A fresh, temporary data folder removed on stop (tests); otherwise a persistent one. */
  readonly fresh?: boolean;
  /** 0 (default) picks a free port. */
  readonly port?: number;
  readonly controllerPort?: number;
  /** Where the jars are assembled; default $HL7_ENGINE_CACHE or ~/.cache/hl7-engine. */
  readonly cacheDir?: string;
  /** Start the JVM detached so it outlives this process (`kafka-local up`). */
  readonly detached?: boolean;
  readonly startTimeoutMs?: number;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

interface InstanceState {
  port: number;
  controllerPort: number;
  pid?: number;
}

export class LocalKafka {
  private readonly opts: LocalKafkaOptions;
  private child: ChildProcess | null = null;
  private dataDir: string | null = null;
  private state: InstanceState | null = null;

  constructor(opts: LocalKafkaOptions) {
    this.opts = opts;
    // Fail at construction, not after a Maven download, on a version this file cannot run.
    loggingFor(this.version);
  }

  get name(): string {
    return this.opts.name;
  }

  get version(): string {
    return this.opts.version ?? KAFKA_VERSION;
  }

  get bootstrap(): string {
    if (!this.state) throw new Error('local Kafka is not started');
    return `127.0.0.1:${this.state.port}`;
  }

  get pid(): number | undefined {
    return this.state?.pid;
  }

  get logFile(): string {
    return join(this.instanceDir(), 'broker.log');
  }

  private instanceDir(): string {
    if (this.dataDir) return this.dataDir;
    if (this.opts.fresh) {
      mkdirSync(tmpdir(), { recursive: true });
      this.dataDir = mkdtempSync(join(tmpdir(), `hl7-engine-kafka-${this.opts.name}-`));
    } else {
      this.dataDir = join(this.opts.cacheDir ?? defaultCacheDir(), 'instances', this.opts.name);
      mkdirSync(this.dataDir, { recursive: true });
    }
    return this.dataDir;
  }

  private stateFile(): string {
    return join(this.instanceDir(), 'instance.json');
  }

  private readState(): InstanceState | null {
    try {
      return JSON.parse(readFileSync(this.stateFile(), 'utf8')) as InstanceState;
    } catch {
      return null;
    }
  }

  /** A broker this name already runs (started detached by an earlier `up`), if any. */
  async running(): Promise<boolean> {
    const st = this.readState();
    if (!st?.pid || !pidAlive(st.pid)) return false;
    if (!(await canConnect(st.port))) return false;
    this.state = st;
    return true;
  }

  async start(): Promise<void> {
    if (await this.running()) return;
    const lib = await assembleKafka(this.opts.cacheDir ?? defaultCacheDir(), this.version);
    const dir = this.instanceDir();
    const previous = this.readState();
    // Restarts reuse the ports so clients configured with the old bootstrap reconnect.
    const port = this.state?.port ?? this.opts.port ?? previous?.port ?? 0;
    const controllerPort = this.state?.controllerPort ?? this.opts.controllerPort ?? previous?.controllerPort ?? 0;
    const st: InstanceState = {
      port: port || (await freePort()),
      controllerPort: controllerPort || (await freePort()),
    };
    const logDirs = join(dir, 'data');
    const props = join(dir, 'server.properties');
    writeFileSync(
      props,
      [
        'process.roles=broker,controller',
        'node.id=1',
        `controller.quorum.voters=1@127.0.0.1:${st.controllerPort}`,
        `listeners=PLAINTEXT://127.0.0.1:${st.port},CONTROLLER://127.0.0.1:${st.controllerPort}`,
        `advertised.listeners=PLAINTEXT://127.0.0.1:${st.port}`,
        'inter.broker.listener.name=PLAINTEXT',
        'controller.listener.names=CONTROLLER',
        'listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT',
        `log.dirs=${logDirs}`,
        'num.partitions=3',
        'auto.create.topics.enable=true',
        'offsets.topic.replication.factor=1',
        'offsets.topic.num.partitions=3',
        'transaction.state.log.replication.factor=1',
        'transaction.state.log.min.isr=1',
        'transaction.state.log.num.partitions=3',
        'group.initial.rebalance.delay.ms=0',
        'num.network.threads=2',
        'num.io.threads=2',
        'log.cleaner.dedupe.buffer.size=1048577',
        // A raw envelope carries the frame twice (base64 bytes and decoded text): a 16 MiB frame
        // needs room. Production brokers need the same (topic max.message.bytes).
        'message.max.bytes=67108864',
        'replica.fetch.max.bytes=67108864',
        '',
      ].join('\n'),
    );
    const logging = loggingFor(this.version);
    const loggingConfig = join(dir, logging.configFile);
    writeFileSync(loggingConfig, logging.config);
    const cp = `${lib}/*`;
    const jvm = [
      '-Xms256m',
      '-Xmx512m',
      '-XX:+UseG1GC',
      '-XX:TieredStopAtLevel=1',
      '-Djava.awt.headless=true',
      `-Dkafka.logs.dir=${join(dir, 'logs')}`,
      logging.jvmFlag(loggingConfig),
    ];
    if (!existsSync(join(logDirs, 'meta.properties'))) {
      // Kafka's cluster id: 16 random bytes, base64url, never starting with '-'.
      let cid = randomBytes(16).toString('base64url');
      while (cid.startsWith('-')) cid = randomBytes(16).toString('base64url');
      const f = spawnSync('java', [...jvm, '-cp', cp, 'kafka.tools.StorageTool', 'format', '-t', cid, '-c', props, '--ignore-formatted'], {
        encoding: 'utf8',
      });
      if (f.status !== 0) throw new Error(`Kafka ${this.version} storage format failed (exit ${f.status}): ${(f.stdout + f.stderr).trim()}`);
    }
    // A restart appends to the same log: only lines after this offset tell that *this* JVM started.
    const logStart = existsSync(this.logFile) ? statSync(this.logFile).size : 0;
    const out = openSync(this.logFile, 'a');
    const child = spawn('java', [...jvm, '-cp', cp, 'kafka.Kafka', props], {
      stdio: ['ignore', out, out],
      detached: this.opts.detached ?? false,
    });
    closeSync(out);
    st.pid = child.pid;
    this.child = child;
    this.state = st;
    writeFileSync(this.stateFile(), JSON.stringify(st));
    let exited: number | null = null;
    child.once('exit', (code) => {
      exited = code ?? -1;
      this.child = null;
    });
    if (this.opts.detached) child.unref();
    const deadline = Date.now() + (this.opts.startTimeoutMs ?? 90_000);
    while (Date.now() < deadline) {
      if (exited !== null) throw new Error(`Kafka ${this.version} exited during start (code ${exited}); see ${this.logFile}`);
      const log = readFileSync(this.logFile).subarray(logStart).toString('utf8');
      if (log.includes('Kafka Server started') && (await canConnect(st.port))) return;
      await sleep(200);
    }
    throw new Error(`Kafka ${this.version} did not start within ${this.opts.startTimeoutMs ?? 90_000} ms; see ${this.logFile}`);
  }

  /** Stops the broker by pid: SIGTERM (clean shutdown), SIGKILL after the grace period. */
  async stop(options: { removeData?: boolean; signal?: NodeJS.Signals; graceMs?: number } = {}): Promise<void> {
    const st = this.state ?? this.readState();
    const pid = st?.pid;
    if (pid && pidAlive(pid)) {
      process.kill(pid, options.signal ?? 'SIGTERM');
      const deadline = Date.now() + (options.graceMs ?? 30_000);
      while (pidAlive(pid) && Date.now() < deadline) await sleep(100);
      if (pidAlive(pid)) process.kill(pid, 'SIGKILL');
      while (pidAlive(pid)) await sleep(50);
    }
    this.child = null;
    if (st) {
      delete st.pid;
      if (existsSync(this.instanceDir())) writeFileSync(this.stateFile(), JSON.stringify(st));
    }
    if (options.removeData ?? this.opts.fresh) {
      rmSync(this.instanceDir(), { recursive: true, force: true });
      this.dataDir = null;
    }
  }
}
