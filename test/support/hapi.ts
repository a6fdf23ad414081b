/**
 * HAPI HL7v2 as a referee for the messages this engine writes: hapi-base and the v2.5/v2.5.1
 * structures from Maven Central (fetched once into ~/.cache/hl7-engine/hapi-<version>, like the
 * local Kafka broker's jars), and two small Java programs compiled beside them: a checker
 * (test/support/hapi/HapiCheck.java) and a receiver on HAPI's SimpleServer (HapiReceiver.java).
 */
import { spawn, spawnSync } from 'node:child_process';
import { createServer, type AddressInfo } from 'node:net';
import { existsSync, mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { REPO_DIR } from './repo.js';

export const HAPI_VERSION = '2.5.1';
const ARTIFACTS = ['hapi-base', 'hapi-structures-v25', 'hapi-structures-v251'];
const JAVA_SOURCES = ['HapiCheck', 'HapiReceiver'];

function cacheDir(): string {
  return join(process.env['HL7_ENGINE_CACHE'] ?? join(homedir(), '.cache', 'hl7-engine'), `hapi-${HAPI_VERSION}`);
}

function run(cmd: string, args: string[], what: string): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 300_000 });
  if (r.error) throw new Error(`cannot run ${cmd} to ${what}: ${r.error.message}`);
  if (r.status !== 0) throw new Error(`${cmd} could not ${what} (exit ${String(r.status)}):\n${(r.stdout + r.stderr).trim()}`);
  return r.stdout;
}

/** The classpath (jars + compiled checker), assembled on first use. Throws with Maven's or javac's own error. */
export function hapiClasspath(): string {
  const home = cacheDir();
  const lib = join(home, 'lib');
  const classes = join(home, 'classes');
  const have = new Set(existsSync(lib) ? readdirSync(lib) : []);
  if (!ARTIFACTS.every((a) => have.has(`${a}-${HAPI_VERSION}.jar`))) {
    mkdirSync(home, { recursive: true });
    const deps = ARTIFACTS.map((a) => `<dependency><groupId>ca.uhn.hapi</groupId><artifactId>${a}</artifactId><version>${HAPI_VERSION}</version></dependency>`);
    writeFileSync(
      join(home, 'pom.xml'),
      `<project xmlns="http://maven.apache.org/POM/4.0.0"><modelVersion>4.0.0</modelVersion><groupId>local.hl7engine</groupId><artifactId>hapi-classpath</artifactId><version>1</version><packaging>pom</packaging><dependencies>${deps.join('')}</dependencies></project>\n`,
    );
    run('mvn', ['-B', '-q', '-f', join(home, 'pom.xml'), 'org.apache.maven.plugins:maven-dependency-plugin:3.6.1:copy-dependencies', `-DoutputDirectory=${lib}`, '-DincludeScope=runtime'], `fetch HAPI ${HAPI_VERSION} from Maven Central`);
  }
  const cp = `${join(lib, '*')}:${classes}`;
  // Compiled again when a source is newer than its class (a checkout that changed a checker).
  const sources = JAVA_SOURCES.map((n) => join(REPO_DIR, 'test/support/hapi', `${n}.java`));
  const stale = JAVA_SOURCES.some((n, i) => {
    const cls = join(classes, `${n}.class`);
    return !existsSync(cls) || statSync(cls).mtimeMs < statSync(sources[i] ?? '').mtimeMs;
  });
  if (stale) {
    mkdirSync(classes, { recursive: true });
    run('javac', ['-cp', join(lib, '*'), '-d', classes, ...sources], 'compile the HAPI checker and receiver');
  }
  return cp;
}

export interface HapiVerdict {
  readonly file: string;
  readonly ok: boolean;
  /** HAPI's structure name (e.g. ORU_R01) when ok, else HAPI's error. */
  readonly detail: string;
  /** HAPI's own encoding of what it parsed, segments ended by CR (ok only). */
  readonly encoded?: string;
}

/** Runs HAPI over message files (one JVM for all of them). */
export function hapiCheck(files: readonly string[]): HapiVerdict[] {
  const cp = hapiClasspath();
  const r = spawnSync('java', ['-cp', cp, 'HapiCheck', ...files], { encoding: 'utf8', timeout: 300_000 });
  if (r.error) throw new Error(`cannot run java for HAPI: ${r.error.message}`);
  const verdicts = r.stdout
    .split('\n')
    .filter((l) => l.startsWith('OK\t') || l.startsWith('FAIL\t'))
    .map((l) => {
      const [status = '', file = '', detail = '', encoded] = l.split('\t');
      return { file, ok: status === 'OK', detail, ...(encoded === undefined ? {} : { encoded: encoded.replaceAll('\\r', '\r') }) };
    });
  if (verdicts.length !== files.length) throw new Error(`HAPI checker answered for ${verdicts.length} of ${files.length} files:\n${r.stdout}${r.stderr}`);
  return verdicts;
}

/** What HAPI's receiver read from one message. */
export interface HapiReceipt {
  readonly controlId: string;
  readonly messageType: string;
  readonly patientId: string;
  /** OBR-3.1 (filler order number), "null" when the message has none. */
  readonly fillerNumber: string;
}

export interface HapiReceiverHandle {
  readonly port: number;
  /** Filled as HAPI's application prints each message it parsed (and ACKed). */
  readonly received: HapiReceipt[];
  stop(): Promise<void>;
}

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

/** Starts HAPI's SimpleServer with the recording application (test/support/hapi/HapiReceiver.java). */
export async function startHapiReceiver(timeoutMs = 120_000): Promise<HapiReceiverHandle> {
  const cp = hapiClasspath();
  const port = await freePort();
  const child = spawn('java', ['-cp', cp, 'HapiReceiver', String(port)], { stdio: ['pipe', 'pipe', 'pipe'] });
  const received: HapiReceipt[] = [];
  let stderr = '';
  let listening = false;
  let buffered = '';
  child.stderr.on('data', (c: Buffer) => {
    stderr = (stderr + c.toString('utf8')).slice(-4000);
  });
  child.stdout.on('data', (c: Buffer) => {
    buffered += c.toString('utf8');
    let nl: number;
    while ((nl = buffered.indexOf('\n')) >= 0) {
      const line = buffered.slice(0, nl).trim();
      buffered = buffered.slice(nl + 1);
      if (line.startsWith('LISTENING ')) listening = true;
      const [tag, controlId = '', messageType = '', patientId = '', fillerNumber = ''] = line.split('\t');
      if (tag === 'RECEIVED') received.push({ controlId, messageType, patientId, fillerNumber });
    }
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const deadline = Date.now() + timeoutMs;
  while (!listening) {
    if (child.exitCode !== null) throw new Error(`HAPI receiver exited (${String(child.exitCode)}) before listening:\n${stderr}`);
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`HAPI receiver did not listen on ${port} within ${timeoutMs} ms:\n${stderr}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    port,
    received,
    async stop(): Promise<void> {
      child.stdin.end();
      const t = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(t);
    },
  };
}
