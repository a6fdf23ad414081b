/**
 * The hl7-engine command line as an operator runs it: `node dist/src/cli.js ...` in a child
 * process, judged by its exit code and what it prints. `send` talks to a real engine on the real
 * Kafka; `check` and a refused `start` need no Kafka at all.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { freePort } from '../support/net.js';
import { REPO_DIR } from '../support/repo.js';
import { createTestPki } from '../support/certs.js';
import { startEngine, uniqueChannel, type TestEngine } from '../support/engine.js';
import { testKafka } from '../support/kafka.js';

const CLI = join(REPO_DIR, 'dist', 'src', 'cli.js');

interface CliRun {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly ms: number;
}

/** Runs the CLI from the repository root; a run past `timeoutMs` is killed and fails the test. */
function cli(args: string[], opts: { timeoutMs?: number; env?: NodeJS.ProcessEnv } = {}): Promise<CliRun> {
  const timeoutMs = opts.timeoutMs ?? 20_000;
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { cwd: REPO_DIR, env: opts.env ?? process.env });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`hl7-engine ${args[0]} did not exit within ${timeoutMs} ms; stdout: ${stdout} stderr: ${stderr}`));
    }, timeoutMs);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr, ms: Date.now() - started });
    });
  });
}

function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'hl7-engine-cli-'));
}

/**
 * An engine on a fresh ADT-only channel. Its topics are created and answering first: on a busy
 * broker a just-created topic refuses offset requests for a moment, which fails the engine's start.
 */
async function adtEngine(prefix: string, listenerExtra = ''): Promise<TestEngine> {
  const name = uniqueChannel(prefix);
  const topics = ['raw', 'fhir', 'dlq'].map((t) => `${name}.${t}`);
  const admin = testKafka().admin();
  await admin.connect();
  try {
    for (let attempt = 1; ; attempt++) {
      try {
        await admin.createTopics({ topics: topics.map((topic) => ({ topic, numPartitions: 3 })) });
        for (const t of topics) await admin.fetchTopicOffsets(t);
        break;
      } catch (err) {
        if ((err as { retriable?: boolean }).retriable !== true || attempt >= 60) throw err;
        await new Promise((r) => setTimeout(r, 300));
      }
    }
  } finally {
    await admin.disconnect();
  }
  return startEngine(`name: ${name}\nlistener:\n  port: ${await freePort()}\n${listenerExtra}accept:\n  messageTypes: ["ADT^*"]\nack:\n  mode: original\n`);
}

// ---------------------------------------------------------------------------------------------
// check

test('check on the shipped channels/ exits 0 and names every channel', async () => {
  const dir = join(REPO_DIR, 'channels');
  const names = readdirSync(dir)
    .filter((f) => /\.ya?ml$/.test(f))
    .map((f) => (parseYaml(readFileSync(join(dir, f), 'utf8')) as { name: string }).name);
  assert.ok(names.length >= 2, 'the repository ships channels');

  const run = await cli(['check', '--channels', dir]);
  assert.equal(run.code, 0, run.stderr);
  for (const name of names) assert.match(run.stdout, new RegExp(`\\bchannel ${name}\\b`), `check names channel ${name}`);
});

test('check on a folder with a broken channel file exits 2 and points at file:line:col with the rule', async () => {
  const dir = tempDir();
  const file = join(dir, 'broken.yaml');
  writeFileSync(file, 'name: broken\nlistener:\n  port: 99999\n');
  //                                          line 3, column 9 ^

  const run = await cli(['check', '--channels', dir]);
  assert.equal(run.code, 2);
  assert.ok(run.stderr.includes(`${file}:3:9:`), `the error names the place: ${run.stderr}`);
  assert.match(run.stderr, /\(maximum\)/, 'and the rule that failed');
  assert.doesNotMatch(run.stdout, /^ok /m, 'no file is reported ok');
});

// ---------------------------------------------------------------------------------------------
// send

test('send of a file holding 3 messages separated by blank lines prints AA for each and exits 0', async () => {
  const te = await adtEngine('cli-send');
  try {
    const file = join(tempDir(), 'three.hl7');
    // As a text editor saves it: LF line ends, a blank line between messages.
    writeFileSync(
      file,
      [
        'MSH|^~\\&|SENDAPP|SENDFAC|RECVAPP|RECVFAC|20260301120000||ADT^A01^ADT_A01|CLI0001|P|2.5.1\nEVN|A01|20260301120000\nPID|1||CLI-MRN-1^^^SENDFAC^MR||TEST^ONE\n',
        'MSH|^~\\&|SENDAPP|SENDFAC|RECVAPP|RECVFAC|20260301120001||ADT^A08^ADT_A01|CLI0002|P|2.5.1\nEVN|A08|20260301120001\nPID|1||CLI-MRN-2^^^SENDFAC^MR||TEST^TWO\n',
        'MSH|^~\\&|SENDAPP|SENDFAC|RECVAPP|RECVFAC|20260301120002||ADT^A03^ADT_A03|CLI0003|P|2.5.1\nEVN|A03|20260301120002\nPID|1||CLI-MRN-3^^^SENDFAC^MR||TEST^THREE\n',
      ].join('\n'),
    );

    const run = await cli(['send', file, '--to', `127.0.0.1:${te.port}`]);
    assert.equal(run.code, 0, run.stdout + run.stderr);
    ['CLI0001', 'CLI0002', 'CLI0003'].forEach((id, i) => {
      assert.match(run.stdout, new RegExp(`#${i + 1} ${id}: AA\\b`), `message ${i + 1} (${id}) is reported AA`);
    });
    assert.match(run.stdout, /\b3\/3\b/);
  } finally {
    await te.stop();
  }
});

test('send exits non-zero and prints the AR when a message is refused (MFN^M02 on an ADT-only channel)', async () => {
  const te = await adtEngine('cli-refused');
  try {
    // MSH|^~\&|EPIC|GENHOSP|HL7ENGINE|GENHOSP|20261121083000||MFN^M02^MFN_M02|MFN0001|P|2.5.1
    const file = join(REPO_DIR, 'test-messages', 'bad', 'mfn-not-accepted.hl7');
    assert.match(readFileSync(file, 'latin1'), /\|MFN\^M02\^MFN_M02\|MFN0001\|/);

    const run = await cli(['send', file, '--to', `127.0.0.1:${te.port}`]);
    assert.equal(run.code, 1, run.stdout + run.stderr);
    assert.match(run.stdout, /MFN0001: AR\b/);
    assert.match(run.stdout, /\b0\/1\b/);
  } finally {
    await te.stop();
  }
});

test('send to a port where nothing listens retries with backoff, then exits non-zero naming the address', async () => {
  const port = await freePort();
  const message = join(REPO_DIR, 'test-messages', 'adt', 'adt-a01.hl7');
  // --retries 2 with the 500 ms base backoff: waits of 500 + 1000 ms between 3 attempts.
  const budgetMs = 500 + 1000;

  const run = await cli(['send', message, '--to', `127.0.0.1:${port}`, '--retries', '2'], { timeoutMs: budgetMs + 15_000 });
  const said = run.stdout + run.stderr;
  assert.equal(run.code, 1, said);
  assert.ok(said.includes(`127.0.0.1:${port}`), `names the address: ${said}`);
  assert.match(said, /ECONNREFUSED/);
  assert.match(said, /3 attempt/);
  assert.ok(run.ms >= budgetMs, `it waited out its retries (${run.ms} ms)`);
  assert.ok(run.ms < budgetMs + 10_000, `hang check: it should stop after its retries, yet ran ${run.ms} ms (10 s past its backoff)`);
});

// ---------------------------------------------------------------------------------------------
// send over TLS, against engines with a tls: section (certificates made at test time)

const pki = createTestPki();
after(() => pki.remove());

/** The listener's tls: block; `mutual` asks for a client certificate with CN lab-sender. */
function tlsBlock(mutual: boolean): string {
  return [
    '  tls:',
    `    key: ${JSON.stringify(pki.server.key)}`,
    `    cert: ${JSON.stringify(pki.server.cert)}`,
    `    ca: ${JSON.stringify(pki.ca)}`,
    ...(mutual ? ['    requestCert: true', '    allowedSubjects: [lab-sender]'] : []),
    '',
  ].join('\n');
}

/** One ADT^A08 in a file, as an operator would hand it to `send`. */
function messageFile(controlId: string): string {
  const file = join(tempDir(), `${controlId}.hl7`);
  writeFileSync(file, `MSH|^~\\&|SENDAPP|SENDFAC|RECVAPP|RECVFAC|20260301120000||ADT^A08^ADT_A01|${controlId}|P|2.5.1\rEVN|A08|20260301120000\rPID|1||TLS-MRN^^^SENDFAC^MR||TEST^TLS\r`);
  return file;
}

test('send --tls --ca verifies the engine\'s certificate and gets AA; the same send without --tls gets none', async () => {
  const te = await adtEngine('cli-tls', tlsBlock(false));
  try {
    const to = `127.0.0.1:${te.port}`;
    const run = await cli(['send', messageFile('TLS0001'), '--to', to, '--tls', '--ca', pki.ca, '--servername', 'localhost', '--retries', '0']);
    assert.equal(run.code, 0, run.stdout + run.stderr);
    assert.match(run.stdout, /TLS0001: AA\b/);
    assert.match(run.stdout, /\b1\/1\b/);

    // Plain MLLP to a TLS listener: the handshake bytes it expects never come, so no ACK.
    const plain = await cli(['send', messageFile('TLS0002'), '--to', to, '--retries', '0', '--timeout', '3000']);
    assert.equal(plain.code, 1, plain.stdout + plain.stderr);
    assert.doesNotMatch(plain.stdout, /TLS0002: AA/);
    assert.match(plain.stdout, /\b0\/1\b/);
  } finally {
    await te.stop();
  }
});

test('send --tls without the CA refuses the engine\'s certificate and exits 1 saying why; --insecure sends anyway', async () => {
  const te = await adtEngine('cli-tls-ca', tlsBlock(false));
  try {
    const to = `127.0.0.1:${te.port}`;
    const refused = await cli(['send', messageFile('TLS0003'), '--to', to, '--tls', '--retries', '0']);
    assert.equal(refused.code, 1, refused.stdout + refused.stderr);
    // The engine's certificate chains to the test CA, which this client was not told to trust.
    assert.match(refused.stdout + refused.stderr, /SELF_SIGNED_CERT_IN_CHAIN/, 'the reason names the certificate check that failed');
    assert.match(refused.stdout + refused.stderr, /nothing was sent/);
    assert.doesNotMatch(refused.stdout, /TLS0003: AA/);

    const insecure = await cli(['send', messageFile('TLS0004'), '--to', to, '--tls', '--insecure', '--retries', '0']);
    assert.equal(insecure.code, 0, insecure.stdout + insecure.stderr);
    assert.match(insecure.stdout, /TLS0004: AA\b/);
  } finally {
    await te.stop();
  }
});

test('send --cert/--key with a client certificate the channel allows gets AA; one it does not allow gets no AA', async () => {
  const te = await adtEngine('cli-mtls', tlsBlock(true));
  try {
    const to = `127.0.0.1:${te.port}`;
    const allowed = pki.client('/O=Test Hospital/CN=lab-sender');
    const run = await cli(['send', messageFile('TLS0005'), '--to', to, '--ca', pki.ca, '--cert', allowed.cert, '--key', allowed.key, '--servername', 'localhost', '--retries', '0']);
    assert.equal(run.code, 0, run.stdout + run.stderr);
    assert.match(run.stdout, /TLS0005: AA\b/);

    const other = pki.client('/O=Test Hospital/CN=someone-else');
    const refused = await cli(['send', messageFile('TLS0006'), '--to', to, '--ca', pki.ca, '--cert', other.cert, '--key', other.key, '--servername', 'localhost', '--retries', '0', '--timeout', '3000']);
    assert.equal(refused.code, 1, refused.stdout + refused.stderr);
    assert.doesNotMatch(refused.stdout, /TLS0006: AA/);
  } finally {
    await te.stop();
  }
});

// ---------------------------------------------------------------------------------------------
// start

test('start --role with an unknown role exits 2 naming the roles, without needing Kafka', async () => {
  const dir = tempDir();
  writeFileSync(join(dir, 'good.yaml'), `name: good\nlistener:\n  port: ${await freePort()}\n`);
  const env = { ...process.env, KAFKA_BROKERS: `127.0.0.1:${await freePort()}` };
  const run = await cli(['start', '--channels', dir, '--role', 'convert'], { env, timeoutMs: 15_000 });
  assert.equal(run.code, 2, run.stdout + run.stderr);
  assert.match(run.stderr, /--role must be one of ingest, transform, all \(got "convert"\)/);
  assert.doesNotMatch(run.stdout, /send MLLP|local Kafka/, 'nothing was started');
});

test('start with an invalid channel folder exits 2 and starts nothing, without needing Kafka', async () => {
  const dir = tempDir();
  const goodPort = await freePort();
  writeFileSync(join(dir, 'good.yaml'), `name: good\nlistener:\n  port: ${goodPort}\n`);
  writeFileSync(join(dir, 'bad.yaml'), 'name: bad\nlistener:\n  port: "not a port"\n');
  // A broker address where nothing listens: if start got past validation it would hang on it.
  const env = { ...process.env, KAFKA_BROKERS: `127.0.0.1:${await freePort()}` };

  const run = await cli(['start', '--channels', dir], { env, timeoutMs: 15_000 });
  assert.equal(run.code, 2, run.stdout + run.stderr);
  assert.ok(run.stderr.includes(join(dir, 'bad.yaml')), `the error names the file: ${run.stderr}`);
  assert.match(run.stderr, /nothing started/);
  assert.doesNotMatch(run.stdout, /send MLLP|local Kafka/, 'no listener and no broker was started');
});

// Every command the README lists answers --help with its own usage, exit 0, and runs nothing
// (`start --help` would otherwise start a Kafka broker and bind ports).
const COMMANDS_WITH_HELP = ['start', 'check', 'send', 'convert', 'dlq', 'replay', 'users', 'console', 'deliver'];
test(`each of the ${COMMANDS_WITH_HELP.length} commands answers --help with its usage and exit 0`, async () => {
  assert.equal(COMMANDS_WITH_HELP.length, 9);
  for (const cmd of COMMANDS_WITH_HELP) {
    const r = await cli([cmd, '--help']);
    assert.equal(r.code, 0, `${cmd} --help: ${r.stderr}`);
    assert.match(r.stdout, new RegExp(`^usage:\\n  hl7-engine ${cmd} `), `${cmd} --help prints its own usage`);
    assert.ok(!r.stdout.includes('hl7-engine start [') || cmd === 'start', `${cmd} --help prints only its own usage`);
  }
});

test('--help after an unknown command exits 2 and lists the commands', async () => {
  const r = await cli(['frobnicate', '--help']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /unknown command frobnicate/);
  assert.match(r.stderr, /hl7-engine replay/);
});
