import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Ajv, type ErrorObject, type SchemaObject, type ValidateFunction } from 'ajv';
import type { AckMode, ProcessingId, TlsMinVersion } from './types.js';

/**
 * The JSON Schema in schemas/channel.schema.json is the single source of truth for what a channel
 * file may contain: editors read it through the `# yaml-language-server: $schema=` comment and the
 * loader validates with the very same file, so the two can never disagree.
 */

// dist/src/channel/ → repository root; the schema ships beside channels/, not inside dist/.
const SCHEMA_URL = new URL('../../../schemas/channel.schema.json', import.meta.url);

/** A channel file's content once it has passed the schema: optional where the file may omit. */
export interface RawChannel {
  name?: string;
  listener: {
    host?: string;
    port: number;
    maxFrameBytes?: number;
    idleTimeoutSeconds?: number;
    maxConnections?: number;
    tls?: {
      key: string;
      cert: string;
      ca?: string;
      requestCert?: boolean;
      rejectUnauthorized?: boolean;
      allowedSubjects?: string[];
      minVersion?: TlsMinVersion;
    };
    allowedAddresses?: string[];
  };
  accept?: {
    messageTypes?: string[];
    sendingApplications?: string[];
    sendingFacilities?: string[];
    processingIds?: ProcessingId[];
  };
  charset?: { fallback?: string };
  ack?: { mode?: AckMode; timeoutMs?: number; application?: string; facility?: string };
  topics?: { raw?: string; fhir?: string; dlq?: string };
  dedupe?: { windowSeconds?: number; maxEntries?: number };
  mapping?: string;
  site?: string;
}

let schema: SchemaObject | null = null;
let validator: ValidateFunction<RawChannel> | null = null;

/** The parsed schema document (read once). */
export function channelSchema(): SchemaObject {
  if (schema === null) {
    const path = fileURLToPath(SCHEMA_URL);
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? 'unknown error';
      throw new Error(`channel schema not readable at ${path} (${code}); it ships in schemas/`);
    }
    schema = JSON.parse(text) as SchemaObject;
  }
  return schema;
}

/** The compiled validator: all errors, not just the first, so one edit round fixes them all. */
export function channelValidator(): ValidateFunction<RawChannel> {
  if (validator === null) {
    // verbose: errors carry their parent schema, which lists the known keys for "did you mean".
    const ajv = new Ajv({ allErrors: true, strict: true, verbose: true });
    validator = ajv.compile<RawChannel>(channelSchema());
  }
  return validator;
}

export type SchemaError = ErrorObject;
