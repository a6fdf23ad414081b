/**
 * Assembles a Kafka broker's classpath from Maven Central jars, once per version, into
 * <cache>/kafka-<version>/lib: the jars the Apache tarball ships (the broker and its runtime
 * dependencies plus the logging backend the tarball adds).
 */
import { spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, rmSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

/**
 * The broker `npm start` and the tests run. kafkajs 2.2.4 negotiates API versions 4.x still serves
 * (KIP-896 removed only older ones); 3.9.1 stays runnable through the `version` option.
 */
export const KAFKA_VERSION = '4.4.0';
const SCALA_VERSION = '2.13';

/**
 * Kafka 4.x logs through log4j2 (its POM brings log4j-core 2.25.5 and slf4j-api 1.7.36, so the
 * slf4j 1.x binding of the same log4j release); 3.x through reload4j, as its tarball does.
 */
const LOG4J2_VERSION = '2.25.5';

/** How one major line of Kafka logs: the extra jars, the config file and the JVM flag naming it. */
export interface LoggingSetup {
  readonly dependencies: ReadonlyArray<readonly [group: string, artifact: string, version: string]>;
  readonly configFile: string;
  readonly config: string;
  readonly jvmFlag: (path: string) => string;
}

/** Root at WARN; KafkaRaftServer at INFO for the "Kafka Server started" line the start-up waits for. */
const LOG4J2: LoggingSetup = {
  dependencies: [
    ['org.apache.logging.log4j', 'log4j-slf4j-impl', LOG4J2_VERSION],
    ['org.apache.logging.log4j', 'log4j-core', LOG4J2_VERSION],
    ['org.apache.logging.log4j', 'log4j-api', LOG4J2_VERSION],
  ],
  configFile: 'log4j2.properties',
  config: [
    'status = warn',
    // The broker stops on SIGTERM through its own hook; log4j2's would race it and warn.
    'shutdownHook = disable',
    'appender.stdout.type = Console',
    'appender.stdout.name = STDOUT',
    'appender.stdout.layout.type = PatternLayout',
    'appender.stdout.layout.pattern = [%d] %p %m (%c)%n',
    'rootLogger.level = WARN',
    'rootLogger.appenderRef.stdout.ref = STDOUT',
    'logger.started.name = kafka.server.KafkaRaftServer',
    'logger.started.level = INFO',
    '',
  ].join('\n'),
  jvmFlag: (path) => `-Dlog4j2.configurationFile=${path}`,
};

const RELOAD4J: LoggingSetup = {
  dependencies: [
    ['org.slf4j', 'slf4j-reload4j', '1.7.36'],
    ['ch.qos.reload4j', 'reload4j', '1.2.25'],
  ],
  configFile: 'log4j.properties',
  config: [
    'log4j.rootLogger=WARN, stdout',
    'log4j.appender.stdout=org.apache.log4j.ConsoleAppender',
    'log4j.appender.stdout.layout=org.apache.log4j.PatternLayout',
    'log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n',
    'log4j.logger.kafka.server.KafkaRaftServer=INFO',
    '',
  ].join('\n'),
  jvmFlag: (path) => `-Dlog4j.configuration=file:${path}`,
};

/** The logging setup of a Kafka version; only the 3.x and 4.x lines (KRaft) are known here. */
export function loggingFor(version: string): LoggingSetup {
  const m = /^(\d+)\.\d+\.\d+$/.exec(version);
  if (!m) throw new Error(`Kafka version ${JSON.stringify(version)} is not MAJOR.MINOR.PATCH`);
  if (m[1] === '4') return LOG4J2;
  if (m[1] === '3') return RELOAD4J;
  throw new Error(`Kafka ${version}: the local broker knows how to run the 3.x and 4.x lines only`);
}

export function defaultCacheDir(): string {
  return process.env['HL7_ENGINE_CACHE'] ?? join(homedir(), '.cache', 'hl7-engine');
}

function pom(version: string): string {
  const deps = [['org.apache.kafka', `kafka_${SCALA_VERSION}`, version] as const, ...loggingFor(version).dependencies].map(
    ([g, a, v]) => `    <dependency><groupId>${g}</groupId><artifactId>${a}</artifactId><version>${v}</version></dependency>`,
  );
  return `<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>local.hl7engine</groupId><artifactId>kafka-broker-classpath</artifactId><version>1</version>
  <packaging>pom</packaging>
  <dependencies>
${deps.join('\n')}
  </dependencies>
</project>
`;
}

/**
 * The jars a usable classpath must hold. A folder marked complete but missing one (assembled by
 * an older POM, or by another tool sharing the cache) is assembled again.
 */
function requiredJars(version: string): string[] {
  return [[`kafka_${SCALA_VERSION}`, version] as const, ...loggingFor(version).dependencies.map(([, a, v]) => [a, v] as const)].map(
    ([a, v]) => `${a}-${v}.jar`,
  );
}

function complete(home: string, version: string): boolean {
  if (!existsSync(join(home, '.complete'))) return false;
  const lib = join(home, 'lib');
  const have = new Set(existsSync(lib) ? readdirSync(lib) : []);
  return requiredJars(version).every((j) => have.has(j));
}

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

/** Fetches the broker's jars from Maven Central once per version; returns the classpath folder. */
export async function assembleKafka(cacheDir = defaultCacheDir(), version = KAFKA_VERSION): Promise<string> {
  const home = join(cacheDir, `kafka-${version}`);
  const lib = join(home, 'lib');
  if (complete(home, version)) return lib;
  mkdirSync(home, { recursive: true });
  await withLock(join(home, '.lock'), () => {
    if (complete(home, version)) return;
    rmSync(join(home, '.complete'), { force: true });
    writeFileSync(join(home, 'pom.xml'), pom(version));
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
    if (r.error) throw new Error(`cannot run Maven to fetch Kafka ${version}: ${r.error.message}`);
    if (r.status !== 0) {
      throw new Error(`Maven could not fetch Kafka ${version} from Maven Central (exit ${r.status}):\n${(r.stdout + r.stderr).trim()}`);
    }
    writeFileSync(join(home, '.complete'), new Date().toISOString());
  });
  return lib;
}
