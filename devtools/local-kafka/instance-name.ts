/**
 * Which local broker a checkout talks to. Every checkout gets its own instance (data folder, pid,
 * ports), so stopping the engine of one checkout never stops the Kafka of another. `start`,
 * `dlq`, `replay` and scripts/kafka-local.mjs all load this module from the same checkout and so
 * resolve the same name.
 */
import { createHash } from 'node:crypto';
import { existsSync, realpathSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Overrides the derived name, e.g. to share one broker between checkouts on purpose. */
export const INSTANCE_ENV = 'HL7_KAFKA_INSTANCE';

/** The name is a folder under the cache's instances/ and part of a temp folder's name. */
const VALID_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/**
 * The checkout this module belongs to: the nearest folder above it holding package.json (the
 * compiled module sits in dist/devtools/local-kafka/, the source one level higher), real path.
 */
export function checkoutRoot(from: string = dirname(fileURLToPath(import.meta.url))): string {
  let dir = from;
  for (;;) {
    if (existsSync(join(dir, 'package.json'))) return realpathSync(dir);
    const up = dirname(dir);
    if (up === dir) throw new Error(`no package.json above ${from}: cannot tell which checkout this is`);
    dir = up;
  }
}

/** `dev-` + 8 hex digits of the checkout's real path: stable for one checkout, distinct across them. */
export function defaultInstanceName(root: string = checkoutRoot()): string {
  return `dev-${createHash('sha256').update(realpathSync(root)).digest('hex').slice(0, 8)}`;
}

export interface InstanceNameOptions {
  /** Given explicitly (`kafka-local.mjs --name`); wins over the environment. */
  readonly name?: string | undefined;
  readonly env?: NodeJS.ProcessEnv;
  /** The checkout root; default the one this module lives in. */
  readonly root?: string;
}

export function resolveInstanceName(opts: InstanceNameOptions = {}): string {
  const given = opts.name ?? (opts.env ?? process.env)[INSTANCE_ENV];
  if (given === undefined || given === '') return defaultInstanceName(opts.root);
  if (!VALID_NAME.test(given)) {
    throw new Error(`invalid local Kafka instance name ${JSON.stringify(given)} (${INSTANCE_ENV} or --name): use letters, digits, '.', '_' or '-', at most 64, starting with a letter or digit`);
  }
  return given;
}
