/**
 * Throwaway PKI for TLS tests: a CA, a server certificate for localhost/127.0.0.1 and client
 * certificates, made with the `openssl` CLI into a temporary folder at test time. Keys never
 * live in the repository; call remove() when the test is done.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';

/** PEM file paths of one key and its certificate. */
export interface CertPair {
  readonly key: string;
  readonly cert: string;
}

export interface TestPki {
  readonly dir: string;
  /** The CA certificate (PEM path): trust it on clients, give it to the listener as `ca`. */
  readonly ca: string;
  /** Server certificate signed by the CA, valid for DNS:localhost and IP:127.0.0.1. */
  readonly server: CertPair;
  /**
   * A client certificate signed by the CA. `subject` is in openssl's slash form, in the order
   * the DN is written, e.g. '/C=US/O=Test Hospital/CN=lab-sender'.
   */
  client(subject: string): CertPair;
  /** A self-signed client certificate that the CA never signed. */
  untrustedClient(subject: string): CertPair;
  remove(): void;
}

// P-256 keys: generated in milliseconds, accepted by every TLS version we test.
const KEY_ARGS = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

function openssl(dir: string, args: string[]): void {
  try {
    execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (err) {
    const stderr = (err as { stderr?: Buffer }).stderr?.toString().trim() ?? '';
    throw new Error(`openssl ${args[0] ?? ''} failed while making test certificates in ${dir} (is the openssl CLI installed?): ${stderr}`, {
      cause: err,
    });
  }
}

export function createTestPki(): TestPki {
  const dir = mkdtempSync(join(tmpdir(), 'hl7-engine-pki-'));
  const ca = join(dir, 'ca.crt');
  const caKey = join(dir, 'ca.key');
  openssl(dir, [
    'req', '-x509', ...KEY_ARGS, '-keyout', caKey, '-out', ca, '-days', '2',
    '-subj', '/O=hl7-engine tests/CN=hl7-engine test CA',
    '-addext', 'basicConstraints=critical,CA:TRUE',
    '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
  ]);

  let n = 0;
  const issue = (name: string, subject: string, extensions: string): CertPair => {
    const base = join(dir, `${name}-${++n}`);
    const pair = { key: `${base}.key`, cert: `${base}.crt` };
    writeFileSync(`${base}.ext`, extensions);
    openssl(dir, ['req', ...KEY_ARGS, '-keyout', pair.key, '-out', `${base}.csr`, '-subj', subject]);
    openssl(dir, [
      'x509', '-req', '-in', `${base}.csr`, '-CA', ca, '-CAkey', caKey, '-days', '2',
      '-set_serial', `0x${randomBytes(8).toString('hex')}`, '-extfile', `${base}.ext`, '-out', pair.cert,
    ]);
    return pair;
  };

  const server = issue(
    'server',
    '/O=hl7-engine tests/CN=localhost',
    'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\nsubjectAltName=DNS:localhost,IP:127.0.0.1\n',
  );

  return {
    dir,
    ca,
    server,
    client: (subject) =>
      issue('client', subject, 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n'),
    untrustedClient: (subject) => {
      const base = join(dir, `self-signed-${++n}`);
      const pair = { key: `${base}.key`, cert: `${base}.crt` };
      openssl(dir, ['req', '-x509', ...KEY_ARGS, '-keyout', pair.key, '-out', pair.cert, '-days', '2', '-subj', subject]);
      return pair;
    },
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}
