import { readdirSync, statSync } from 'node:fs';
import { basename, dirname, extname, join, resolve } from 'node:path';
import iconv from 'iconv-lite';
import { byPosition, ConfigError, readYaml, schemaErrors, type SourcePosition } from '../config/index.js';
import { parseAddressRange } from './address-allow-list.js';
import { CHANNEL_WORDING, channelValidator, type RawChannel } from './channel-schema.js';
import { CHANNEL_DEFAULTS, CHARSET_REJECT, type ChannelConfig } from './types.js';

const NAME_PATTERN = /^[a-z0-9][a-z0-9_-]*$/;
const CHANNEL_FILE = /\.ya?ml$/i;

/** One file's outcome, with enough source positions for checks that span several files. */
interface FileResult {
  readonly channel: ChannelConfig | null;
  readonly errors: ConfigError[];
  readonly locate: (path: readonly string[]) => SourcePosition;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function child(value: unknown, key: string): unknown {
  return isRecord(value) ? value[key] : undefined;
}

/**
 * Checks JSON Schema cannot express: they need the file system, iconv-lite or address parsing.
 * They run on the raw value even when the schema failed, so one pass reports everything; each
 * looks only at values of the right type and leaves wrong types to the schema errors.
 */
function semanticErrors(
  raw: unknown,
  file: string,
  stem: string,
  at: (path: readonly string[]) => SourcePosition,
): ConfigError[] {
  const errors: ConfigError[] = [];
  const report = (path: readonly string[], detail: string, rule: string): void => {
    const pos = at(path);
    errors.push(new ConfigError(file, pos.line, pos.col, detail, rule));
  };

  if (isRecord(raw) && raw['name'] === undefined && !NAME_PATTERN.test(stem)) {
    report(
      [],
      `no 'name' is set and the file name '${stem}' is not a valid channel name (lower-case letters, digits, '_' and '-'); set name or rename the file`,
      'name',
    );
  }

  const fallback = child(child(raw, 'charset'), 'fallback');
  if (typeof fallback === 'string' && fallback !== CHARSET_REJECT && !iconv.encodingExists(fallback)) {
    report(
      ['charset', 'fallback'],
      `charset.fallback '${fallback}' is not a charset iconv-lite knows; use e.g. windows-1252, iso-8859-1, utf-8, or '${CHARSET_REJECT}'`,
      'charset',
    );
  }

  const listener = child(raw, 'listener');
  const addresses = child(listener, 'allowedAddresses');
  if (Array.isArray(addresses)) {
    addresses.forEach((entry: unknown, i) => {
      if (typeof entry !== 'string') return;
      const range = parseAddressRange(entry);
      if (typeof range === 'string') {
        report(['listener', 'allowedAddresses', String(i)], `listener.allowedAddresses[${i}] '${entry}' ${range}`, 'address');
      }
    });
  }

  const tls = child(listener, 'tls');
  for (const key of ['key', 'cert', 'ca']) {
    const rel = child(tls, key);
    if (typeof rel !== 'string' || rel === '') continue;
    const abs = resolve(dirname(file), rel);
    let isFile = false;
    try {
      isFile = statSync(abs).isFile();
    } catch {
      isFile = false;
    }
    if (!isFile) {
      report(['listener', 'tls', key], `listener.tls.${key} file not found: ${abs} (relative paths start at the channel file's folder)`, 'file');
    }
  }
  if (child(tls, 'allowedSubjects') !== undefined) {
    if (child(tls, 'requestCert') !== true) {
      report(
        ['listener', 'tls', 'allowedSubjects'],
        'listener.tls.allowedSubjects needs requestCert: true, otherwise senders present no certificate to check',
        'tls',
      );
    }
    if (child(tls, 'rejectUnauthorized') === false) {
      report(
        ['listener', 'tls', 'rejectUnauthorized'],
        'listener.tls.rejectUnauthorized: false cannot be combined with allowedSubjects: an unverified certificate can claim any subject',
        'tls',
      );
    }
  }
  return errors;
}

function freezeDeep<T>(value: T): T {
  if (value !== null && typeof value === 'object') {
    for (const v of Object.values(value)) freezeDeep(v);
    Object.freeze(value);
  }
  return value;
}

function listOrNull<T>(list: readonly T[] | undefined): readonly T[] | null {
  return list === undefined ? null : [...list];
}

function buildConfig(raw: RawChannel, file: string, stem: string): ChannelConfig {
  const d = CHANNEL_DEFAULTS;
  const name = raw.name ?? stem;
  const base = dirname(file);
  const l = raw.listener;
  const tls = l.tls;
  const requestCert = tls?.requestCert ?? d.requestCert;
  return freezeDeep({
    name,
    file,
    listener: {
      host: l.host ?? d.host,
      port: l.port,
      maxFrameBytes: l.maxFrameBytes ?? d.maxFrameBytes,
      idleTimeoutSeconds: l.idleTimeoutSeconds ?? d.idleTimeoutSeconds,
      frameTimeoutSeconds: l.frameTimeoutSeconds ?? d.frameTimeoutSeconds,
      closeGraceSeconds: l.closeGraceSeconds ?? d.closeGraceSeconds,
      maxConnections: l.maxConnections ?? d.maxConnections,
      // Half the slots: one address (one misbehaving or hostile system) can never lock out the rest.
      maxConnectionsPerAddress: l.maxConnectionsPerAddress ?? Math.ceil((l.maxConnections ?? d.maxConnections) / 2),
      maxBufferedBytes: l.maxBufferedBytes ?? Math.max(d.minBufferedBytes, 2 * (l.maxFrameBytes ?? d.maxFrameBytes)),
      tls:
        tls === undefined
          ? null
          : {
              key: resolve(base, tls.key),
              cert: resolve(base, tls.cert),
              ca: tls.ca === undefined ? null : resolve(base, tls.ca),
              requestCert,
              rejectUnauthorized: tls.rejectUnauthorized ?? d.rejectUnauthorized,
              allowedSubjects: listOrNull(tls.allowedSubjects),
              minVersion: tls.minVersion ?? d.minVersion,
            },
      allowedAddresses: listOrNull(l.allowedAddresses),
    },
    accept: {
      messageTypes: listOrNull(raw.accept?.messageTypes),
      sendingApplications: listOrNull(raw.accept?.sendingApplications),
      sendingFacilities: listOrNull(raw.accept?.sendingFacilities),
      processingIds: listOrNull(raw.accept?.processingIds),
    },
    charset: { fallback: raw.charset?.fallback ?? d.charsetFallback },
    ack: {
      mode: raw.ack?.mode ?? d.ackMode,
      timeoutMs: raw.ack?.timeoutMs ?? d.ackTimeoutMs,
      application: raw.ack?.application ?? d.ackApplication,
      facility: raw.ack?.facility ?? name,
    },
    topics: {
      raw: raw.topics?.raw ?? `${name}.raw`,
      fhir: raw.topics?.fhir ?? `${name}.fhir`,
      dlq: raw.topics?.dlq ?? `${name}.dlq`,
    },
    dedupe: {
      windowSeconds: raw.dedupe?.windowSeconds ?? d.dedupeWindowSeconds,
      maxEntries: raw.dedupe?.maxEntries ?? d.dedupeMaxEntries,
    },
    review: { slaMinutes: raw.review?.slaMinutes ?? d.reviewSlaMinutes, maxGroupSize: raw.review?.maxGroupSize ?? d.reviewMaxGroupSize },
    batch: { maxMessages: raw.batch?.maxMessages ?? d.batchMaxMessages },
    mapping: raw.mapping ?? null,
    site: raw.site ?? null,
  });
}

/** Topics must differ, or raw envelopes, bundles and dead letters would interleave. */
function topicErrors(
  channel: ChannelConfig,
  written: RawChannel['topics'],
  at: (path: readonly string[]) => SourcePosition,
): ConfigError[] {
  const errors: ConfigError[] = [];
  const seen = new Map<string, 'raw' | 'fhir' | 'dlq'>();
  for (const kind of ['raw', 'fhir', 'dlq'] as const) {
    const topic = channel.topics[kind];
    const earlier = seen.get(topic);
    if (earlier !== undefined) {
      // Point at the name the analyst typed; the other one is a default they may not know of.
      const [typed, other] = written?.[kind] !== undefined ? [kind, earlier] : [earlier, kind];
      const pos = at(['topics', typed]);
      errors.push(
        new ConfigError(channel.file, pos.line, pos.col, `topics.${typed} is the same topic as topics.${other} (${topic})`, 'topics'),
      );
    }
    seen.set(topic, kind);
  }
  return errors;
}

function readChannel(file: string): FileResult {
  const stem = basename(file, extname(file));
  const yaml = readYaml(file, 'channel', { emptyHint: 'a channel needs at least listener.port' });
  const locate = (path: readonly string[]): SourcePosition => yaml.at(path);
  if (yaml.errors.length > 0) return { channel: null, errors: [...yaml.errors], locate };

  const raw = yaml.value;
  const errors = schemaErrors(yaml, channelValidator(), CHANNEL_WORDING);
  const valid = errors.length === 0;
  errors.push(...semanticErrors(raw, file, stem, locate));
  if (!valid || errors.length > 0) return { channel: null, errors: errors.sort(byPosition), locate };

  const channel = buildConfig(raw as RawChannel, file, stem);
  const topicProblems = topicErrors(channel, (raw as RawChannel).topics, locate);
  if (topicProblems.length > 0) return { channel: null, errors: topicProblems, locate };
  return { channel, errors: [], locate };
}

/**
 * Every problem in one channel file, in file order, plus the channel when there are none. For
 * `check` commands and editors that show all problems at once.
 */
export function checkChannelFile(path: string): { channel: ChannelConfig | null; errors: ConfigError[] } {
  const { channel, errors } = readChannel(path);
  return { channel, errors };
}

/**
 * Loads one channel file with every default filled in. Throws the first ConfigError in file
 * order; use checkChannelFile to get all of them.
 */
export function loadChannelFile(path: string): ChannelConfig {
  const { channel, errors } = readChannel(path);
  const first = errors[0];
  if (first !== undefined) throw first;
  if (channel === null) throw new ConfigError(path, 1, 1, 'channel could not be loaded', 'read');
  return channel;
}

const WILDCARD_HOSTS = new Set(['0.0.0.0', '::', '::0', '0:0:0:0:0:0:0:0']);

/** A wildcard bind takes the port on every address, so it clashes with any host on that port. */
function listenersClash(a: ChannelConfig, b: ChannelConfig): boolean {
  if (a.listener.port !== b.listener.port) return false;
  const ha = a.listener.host.toLowerCase();
  const hb = b.listener.host.toLowerCase();
  return ha === hb || WILDCARD_HOSTS.has(ha) || WILDCARD_HOSTS.has(hb);
}

/**
 * Loads every *.yaml / *.yml channel in `dir` (in file-name order; dot-files skipped, symlinks
 * followed as Kubernetes ConfigMap mounts need). A broken file, or one whose name or host:port
 * repeats an earlier file's, is reported and left out; the others still load, so one analyst's
 * typo does not take down every channel. A missing or unreadable `dir` throws the fs error (it
 * names the folder), since then there is no file to point at.
 */
export function loadChannels(dir: string): { channels: ChannelConfig[]; errors: ConfigError[] } {
  const files = readdirSync(dir)
    .filter((name) => CHANNEL_FILE.test(name) && !name.startsWith('.'))
    .sort()
    .map((name) => join(dir, name))
    .filter((path) => {
      try {
        return statSync(path).isFile();
      } catch {
        return false;
      }
    });

  const channels: ChannelConfig[] = [];
  const errors: ConfigError[] = [];
  for (const file of files) {
    const result = readChannel(file);
    errors.push(...result.errors);
    const channel = result.channel;
    if (channel === null) continue;

    const sameName = channels.find((c) => c.name === channel.name);
    if (sameName !== undefined) {
      const pos = result.locate(['name']);
      errors.push(
        new ConfigError(file, pos.line, pos.col, `channel name '${channel.name}' is already used by ${sameName.file}`, 'duplicate-name'),
      );
      continue;
    }
    const clash = channels.find((c) => listenersClash(c, channel));
    if (clash !== undefined) {
      const pos = result.locate(['listener', 'port']);
      const l = channel.listener;
      errors.push(
        new ConfigError(
          file,
          pos.line,
          pos.col,
          `listener ${l.host}:${l.port} is already used by channel '${clash.name}' (${clash.file}, ${clash.listener.host}:${clash.listener.port})`,
          'duplicate-listener',
        ),
      );
      continue;
    }
    channels.push(channel);
  }
  return { channels, errors };
}
