/**
 * A channel as the rest of the engine sees it: every default filled in, every path absolute, so
 * the listener, ingest and ACK code never re-derive a default or guess a base folder.
 */

import type { AckMode } from '../hl7/index.js';
import type { ListenerTls, TlsMinVersion } from '../mllp/index.js';

/** HL7 table 0103. */
export type ProcessingId = 'P' | 'T' | 'D';

/** `charset.fallback` value that refuses undecidable messages instead of guessing. */
export const CHARSET_REJECT = 'reject';

export interface ListenerConfig {
  readonly host: string;
  readonly port: number;
  readonly maxFrameBytes: number;
  /** 0 = never time out. */
  readonly idleTimeoutSeconds: number;
  /** VT to FS at most this long; 0 = no deadline. */
  readonly frameTimeoutSeconds: number;
  /** After our half-close, the peer's time to close before the socket is destroyed. */
  readonly closeGraceSeconds: number;
  readonly maxConnections: number;
  readonly maxConnectionsPerAddress: number;
  /** Memory all connections may hold in unfinished frames. */
  readonly maxBufferedBytes: number;
  /** null = plain TCP. */
  readonly tls: ListenerTls | null;
  /** IPs or CIDR ranges (see isAddressAllowed); null = any address. Never empty. */
  readonly allowedAddresses: readonly string[] | null;
}

/** Each list: null = accept all. Lists are never empty. */
export interface AcceptConfig {
  /** Patterns for matchesMessageType, e.g. "ADT^*". */
  readonly messageTypes: readonly string[] | null;
  readonly sendingApplications: readonly string[] | null;
  readonly sendingFacilities: readonly string[] | null;
  readonly processingIds: readonly ProcessingId[] | null;
}

export interface CharsetConfig {
  /** An iconv-lite encoding name, or CHARSET_REJECT. */
  readonly fallback: string;
}

export interface AckConfig {
  readonly mode: AckMode;
  readonly timeoutMs: number;
  /** Our MSH-3 in ACKs. */
  readonly application: string;
  /** Our MSH-4 in ACKs. */
  readonly facility: string;
}

export interface TopicsConfig {
  readonly raw: string;
  readonly fhir: string;
  readonly dlq: string;
}

export interface DedupeConfig {
  /** 0 = duplicate detection off. */
  readonly windowSeconds: number;
  readonly maxEntries: number;
}

export interface ReviewConfig {
  /** Minutes a dead letter may wait for a decision in the console before it is overdue. */
  readonly slaMinutes: number;
  /**
   * Dead letters one group decision (a whole category or cause at once) may take: the decision
   * is one audit record listing every target, so this bounds that record's size, and a larger
   * group is refused rather than decided in a form Kafka might not store.
   */
  readonly maxGroupSize: number;
}

export interface BatchConfig {
  /** Messages one FHS/BHS frame may hold; more is refused whole, before any is stored. */
  readonly maxMessages: number;
}

export interface ChannelConfig {
  readonly name: string;
  /** The channel file as it was given to the loader, for messages and hot reload. */
  readonly file: string;
  readonly listener: ListenerConfig;
  readonly accept: AcceptConfig;
  readonly charset: CharsetConfig;
  readonly ack: AckConfig;
  readonly topics: TopicsConfig;
  readonly dedupe: DedupeConfig;
  readonly review: ReviewConfig;
  readonly batch: BatchConfig;
  /** Reserved for the mapping stage; null until a channel names one. */
  readonly mapping: string | null;
  /** Reserved for site overlays; null until a channel names one. */
  readonly site: string | null;
}

/** Defaults that do not depend on the channel name or file. The schema's `default`s must agree. */
export const CHANNEL_DEFAULTS = Object.freeze({
  host: '127.0.0.1',
  maxFrameBytes: 16 * 1024 * 1024,
  idleTimeoutSeconds: 300,
  frameTimeoutSeconds: 60,
  closeGraceSeconds: 5,
  maxConnections: 100,
  /** maxBufferedBytes is at least this (and at least twice maxFrameBytes). */
  minBufferedBytes: 128 * 1024 * 1024,
  requestCert: false,
  rejectUnauthorized: true,
  minVersion: 'TLSv1.2' as TlsMinVersion,
  charsetFallback: 'windows-1252',
  ackMode: 'auto' as AckMode,
  ackTimeoutMs: 5000,
  ackApplication: 'HL7ENGINE',
  dedupeWindowSeconds: 86400,
  dedupeMaxEntries: 100000,
  reviewSlaMinutes: 240,
  reviewMaxGroupSize: 500,
  batchMaxMessages: 10000,
});
