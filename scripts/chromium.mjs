#!/usr/bin/env node
// Debian's `chromium` for the console's browser tests (driven by playwright-core, which ships no
// browser). Installs the package when missing, the same way scripts/prometheus.mjs installs
// Prometheus, and prints the binary's path.
//
//   node scripts/chromium.mjs install
//
// As a module: ensureChromium().
import { fileURLToPath } from 'node:url';
import { ensureDebianPackage } from './prometheus.mjs';

/** The chromium binary, installing Debian's package first if needed. */
export function ensureChromium(log) {
  return ensureDebianPackage('chromium', 'chromium', log);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [cmd] = process.argv.slice(2);
  if (cmd !== 'install') {
    process.stderr.write('usage: node scripts/chromium.mjs install\n');
    process.exit(2);
  }
  process.stdout.write(`${ensureChromium()}\n`);
}
