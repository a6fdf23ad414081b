import type { SchemaObject, ValidateFunction } from 'ajv';
import { compileSchema, loadSchema, type SchemaWording } from '../config/index.js';
import type { AckMode } from '../hl7/index.js';
import type { TlsMinVersion } from '../mllp/index.js';
import type { ProcessingId } from './types.js';

/**
 * schemas/channel.schema.json says what a channel file may contain; the loader validates with
 * that very file (see src/config/schema.ts), so editors and the engine never disagree.
 */
const SCHEMA = 'channel.schema.json';

/** A channel file's content once it has passed the schema: optional where the file may omit. */
export interface RawChannel {
  name?: string;
  listener: {
    host?: string;
    port: number;
    maxFrameBytes?: number;
    idleTimeoutSeconds?: number;
    frameTimeoutSeconds?: number;
    closeGraceSeconds?: number;
    maxConnections?: number;
    maxConnectionsPerAddress?: number;
    maxBufferedBytes?: number;
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
  review?: { slaMinutes?: number; maxGroupSize?: number };
  batch?: { maxMessages?: number };
  mapping?: string;
  site?: string;
}

let validator: ValidateFunction<RawChannel> | null = null;

/** The parsed schema document (read once). */
export function channelSchema(): SchemaObject {
  return loadSchema(SCHEMA);
}

/** The compiled validator: all errors, not just the first, so one edit round fixes them all. */
export function channelValidator(): ValidateFunction<RawChannel> {
  validator ??= compileSchema<RawChannel>(SCHEMA);
  return validator;
}

/** How schema errors in channel files read (the patterns are explained in the schema). */
export const CHANNEL_WORDING: SchemaWording = { kind: 'channel', typeWords: 'settings' };
