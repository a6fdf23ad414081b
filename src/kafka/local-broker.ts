/**
 * A real single-node Apache Kafka broker (KRaft, combined broker+controller) assembled from Maven
 * Central jars, for `npm start` on a fresh machine and for the test suite. No Docker, no fake: the
 * jars are the ones the Apache tarball ships, fetched once into a cache folder.
 *
 * Kafka 3.9.1 is pinned because it is the last line whose protocol floor still covers every API
 * version kafkajs 2.2.4 speaks; 4.x removed old versions (KIP-896) that kafkajs still negotiates.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  closeSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  rmSync,
  statSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { createServer, connect } from 'node:net';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';

export const KAFKA_VERSION = '3.9.1';
const SCALA_VERSION = '2.13';

export interface LocalKafkaOptions {
  /** Names the data folder and the pid file, so `down` finds what `up` started. */
  readonly name: string;
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

export function defaultCacheDir(): string {
  return process.env['HL7_ENGINE_CACHE'] ?? join(homedir(), '.cache', 'hl7-engine');
}

const POM = `<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>local.hl7engine</groupId><artifactId>kafka-broker-classpath</artifactId><version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka_${SCALA_VERSION}</artifactId><version>${KAFKA_VERSION}</version></dependency>
    <!-- The broker POM brings no logging backend; the Apache tarball ships these two. -->
    <dependency><groupId>org.slf4j</groupId><artifactId>slf4j-reload4j</artifactId><version>1.7.36</version></dependency>
    <dependency><groupId>ch.qos.reload4j</groupId><artifactId>reload4j</artifactId><version>1.2.25</version></dependency>
  </dependencies>
</project>
`;

const LOG4J = `log4j.rootLogger=WARN, stdout
log4j.appender.stdout=org.apache.log4j.ConsoleAppender
log4j.appender.stdout.layout=org.apache.log4j.PatternLayout
log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.kafka.server.KafkaRaftServer=INFO
`;

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Serialises jar assembly between processes (parallel test files may start brokers). */
async function withLock<T>(lockPath: string, fn: () => T): Promise<T> {
  const deadline = Date.now() + 300_000;
  for (;;) {
    try {
      const fd = openSync(lockPath, 'wx');
      try {
        return fn();
      } finally {
        closeSync(fd);
        unlinkSync(lockPath);
      }
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      // A lock older than 10 minutes belongs to a process that died mid-assembly.
      try {
        if (Date.now() - statSync(lockPath).mtimeMs > 600_000) unlinkSync(lockPath);
      } catch {
        /* gone already */
      }
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${lockPath}`);
      await sleep(500);
    }
  }
}

/** Fetches the broker's jars from Maven Central once; returns the classpath folder. */
export async function assembleKafka(cacheDir = defaultCacheDir()): Promise<string> {
  const home = join(cacheDir, `kafka-${KAFKA_VERSION}`);
  const lib = join(home, 'lib');
  const done = join(home, '.complete');
  if (existsSync(done)) return lib;
  mkdirSync(home, { recursive: true });
  await withLock(join(home, '.lock'), () => {
    if (existsSync(done)) return;
    writeFileSync(join(home, 'pom.xml'), POM);
    rmSync(lib, { recursive: true, force: true });
    const r = spawnSync(
      'mvn',
      [
        '-B',
        '-q',
        '-f',
        join(home, 'pom.xml'),
        'org.apache.maven.plugins:maven-dependency-plugin:3.6.1:copy-dependencies',
        `-DoutputDirectory=${lib}`,
        '-DincludeScope=runtime',
      ],
      { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] },
    );
    if (r.error) throw new Error(`cannot run Maven to fetch Kafka ${KAFKA_VERSION}: ${r.error.message}`);
    if (r.status !== 0) {
      throw new Error(
        `Maven could not fetch Kafka ${KAFKA_VERSION} from Maven Central (exit ${r.status}):\n${(r.stdout + r.stderr).trim()}`,
      );
    }
    writeFileSync(join(home, 'log4j.properties'), LOG4J);
    writeFileSync(done, new Date().toISOString());
  });
  return lib;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
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
    const lib = await assembleKafka(this.opts.cacheDir);
    const home = join(lib, '..');
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
    const cp = `${lib}/*`;
    const jvm = [
      '-Xms256m',
      '-Xmx512m',
      '-XX:+UseG1GC',
      '-XX:TieredStopAtLevel=1',
      '-Djava.awt.headless=true',
      `-Dkafka.logs.dir=${join(dir, 'logs')}`,
      `-Dlog4j.configuration=file:${join(home, 'log4j.properties')}`,
    ];
    if (!existsSync(join(logDirs, 'meta.properties'))) {
      // Kafka's cluster id: 16 random bytes, base64url, never starting with '-'.
      let cid = randomBytes(16).toString('base64url');
      while (cid.startsWith('-')) cid = randomBytes(16).toString('base64url');
      const f = spawnSync('java', [...jvm, '-cp', cp, 'kafka.tools.StorageTool', 'format', '-t', cid, '-c', props, '--ignore-formatted'], {
        encoding: 'utf8',
      });
      if (f.status !== 0) throw new Error(`Kafka storage format failed (exit ${f.status}): ${(f.stdout + f.stderr).trim()}`);
    }
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
      if (exited !== null) throw new Error(`Kafka exited during start (code ${exited}); see ${this.logFile}`);
      const log = readFileSync(this.logFile, 'utf8');
      if (log.includes('Kafka Server started') && (await canConnect(st.port))) return;
      await sleep(200);
    }
    throw new Error(`Kafka did not start within ${this.opts.startTimeoutMs ?? 90_000} ms; see ${this.logFile}`);
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
