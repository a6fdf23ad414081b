/**
 * HAPI HL7v2 as a referee for the messages this engine writes: hapi-base and the v2.5/v2.5.1
 * structures from Maven Central (fetched once into ~/.cache/hl7-engine/hapi-<version>, like the
 * local Kafka broker's jars), and a small Java checker (test/support/hapi/HapiCheck.java) compiled
 * beside them.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { REPO_DIR } from './repo.js';

export const HAPI_VERSION = '2.5.1';
const ARTIFACTS = ['hapi-base', 'hapi-structures-v25', 'hapi-structures-v251'];

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
  if (!existsSync(join(classes, 'HapiCheck.class'))) {
    mkdirSync(classes, { recursive: true });
    run('javac', ['-cp', join(lib, '*'), '-d', classes, join(REPO_DIR, 'test/support/hapi/HapiCheck.java')], 'compile the HAPI checker');
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
