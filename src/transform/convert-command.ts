/**
 * `hl7-engine convert`: the analyst's test bench. Converts every message of a file with a mapping
 * set exactly as the transform worker would (same charset rules, same validation), without Kafka.
 * stdout carries only Bundles, one pretty-printed JSON document per converted message, in file
 * order (a single-message file gives a single JSON document; several give a stream that `jq`
 * reads as is); stderr carries one line per message and its issues.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { loadChannels, CHANNEL_DEFAULTS } from '../channel/index.js';
import { decodeMessage } from '../charset/index.js';
import { parseMessage } from '../hl7/index.js';
import { loadMappingSet, MappingLoadError, type MappingSet } from '../mapping/index.js';
import type { ConversionIssue } from '../mapping/types.js';
import { splitMessagesInFile } from '../mllp/split-file.js';
import { loadFhirDefinitions } from '../fhir/index.js';
import { convertChecked, mappingSetDir } from './mapping-converter.js';

/**
 * The default mapping set: mappings/default beside this installation (the checkout or the
 * package), found from this file's place (dist/src/transform/), not from the working directory.
 */
export const DEFAULT_MAPPING_SET = fileURLToPath(new URL('../../../mappings/default', import.meta.url));

export const CONVERT_USAGE = `  hl7-engine convert FILE [--channel NAME [--channels DIR] | --mappings DIR] [--site S]
      Converts every message in FILE with a mapping set, as the transform stage would, without
      Kafka: each Bundle on stdout (pretty JSON, one document per message, in file order); on
      stderr first the mapping set and site used, then each message's outcome and issues.
      With neither --channel nor --mappings: the default mapping set beside this installation,
        ${DEFAULT_MAPPING_SET}
      and its default site. --channel uses that channel's mapping set, site and charset
      fallback; --mappings names a mapping set folder. Exits 0 if every message converted to a
      valid Bundle, 1 if one did not (unsupported, mapping error, invalid).`;

export interface CommandIo {
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
}

/** What a run decided: 0 all converted, 1 some message not converted, 2 usage or config error. */
export type ExitCode = 0 | 1 | 2;

class UsageError extends Error {}

function formatIssue(i: ConversionIssue): string {
  const where = i.location ? ` at ${i.location}` : '';
  const table = i.table ? ` [${i.table}]` : '';
  return `  ${i.severity} ${i.code}${where}${table}: ${i.message}`;
}

interface Target {
  readonly dir: string;
  readonly site: string | undefined;
  readonly fallback: string;
}

function targetOf(values: { channel?: string; channels?: string; mappings?: string; site?: string }): Target {
  if (values.channel !== undefined && values.mappings !== undefined) {
    throw new UsageError('convert takes at most one of --channel NAME or --mappings DIR');
  }
  if (values.channel === undefined) {
    // An analyst's first try, `hl7-engine convert FILE`, gets a Bundle from the default set.
    const dir = values.mappings === undefined ? DEFAULT_MAPPING_SET : resolve(values.mappings);
    return { dir, site: values.site, fallback: CHANNEL_DEFAULTS.charsetFallback };
  }
  const channelsDir = resolve(values.channels ?? 'channels');
  const { channels, errors } = loadChannels(channelsDir);
  if (errors.length > 0) throw new UsageError(`${errors.map((e) => e.message).join('\n')}\n${errors.length} error(s) in ${channelsDir}`);
  const channel = channels.find((c) => c.name === values.channel);
  if (!channel) {
    throw new UsageError(`no channel named ${values.channel ?? ''} in ${channelsDir} (channels: ${channels.map((c) => c.name).join(', ') || 'none'})`);
  }
  const dir = mappingSetDir(channel);
  if (dir === null) throw new UsageError(`channel ${channel.name} (${channel.file}) names no mapping set; add "mapping: <set>" or use --mappings DIR`);
  return { dir, site: values.site ?? channel.site ?? undefined, fallback: channel.charset.fallback };
}

/** Runs the command; never exits the process, so it can be called from tests or the CLI. */
export function runConvert(argv: string[], io: CommandIo): ExitCode {
  let target: Target;
  let file: string;
  try {
    const { values, positionals } = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        channel: { type: 'string' },
        channels: { type: 'string' },
        mappings: { type: 'string' },
        site: { type: 'string' },
      },
    });
    if (positionals.length !== 1) throw new UsageError(`convert needs one FILE, got ${positionals.length}`);
    file = positionals[0]!;
    target = targetOf(values);
  } catch (err) {
    io.stderr(`${err instanceof Error ? err.message : String(err)}\nusage:\n${CONVERT_USAGE}\n`);
    return 2;
  }

  let set: MappingSet;
  try {
    set = loadMappingSet(target.dir, target.site);
  } catch (err) {
    if (!(err instanceof MappingLoadError)) throw err;
    for (const e of err.errors) io.stderr(`${e.message}\n`);
    io.stderr(`${err.errors.length} error(s) in the mapping set ${target.dir}; nothing converted\n`);
    return 2;
  }

  io.stderr(`mapping set ${set.dir}, site ${set.site.name}\n`);

  let bytes: Buffer;
  try {
    bytes = readFileSync(file);
  } catch (err) {
    io.stderr(`cannot read ${file}: ${err instanceof Error ? err.message : String(err)}\n`);
    return 2;
  }
  const messages = splitMessagesInFile(bytes);
  if (messages.length === 0) {
    io.stderr(`${file}: no HL7 message found\n`);
    return 1;
  }
  loadFhirDefinitions();

  let failed = 0;
  messages.forEach((m, i) => {
    const label = `${file}#${i + 1}`;
    const decoded = decodeMessage(m, { fallback: target.fallback });
    if (!decoded.ok) {
      failed++;
      io.stderr(`${label}: not converted: bytes cannot be decoded (${decoded.message})\n`);
      return;
    }
    const parsed = parseMessage(decoded.text);
    if (!parsed.ok) {
      failed++;
      io.stderr(`${label}: not converted: ${parsed.error.code}: ${parsed.error.message}\n`);
      return;
    }
    const msh = parsed.message.msh();
    const head = `${label} ${msh.messageCode}^${msh.triggerEvent} ${msh.controlId}`;
    const r = convertChecked(parsed.message, set);
    const issues = r.issues.length === 1 ? '1 issue' : `${r.issues.length} issues`;
    if (r.bundle) {
      io.stdout(`${JSON.stringify(r.bundle, null, 2)}\n`);
      io.stderr(`${head}: Bundle with ${r.bundle.entry?.length ?? 0} entries, ${issues}\n`);
    } else if (r.unsupported) {
      failed++;
      io.stderr(`${head}: not converted: unsupported (no mapping for this message type in ${set.dir})\n`);
    } else if (r.rejected) {
      failed++;
      // Shown anyway: the analyst needs to see the Bundle to fix what made it invalid.
      io.stdout(`${JSON.stringify(r.rejected, null, 2)}\n`);
      io.stderr(`${head}: INVALID Bundle (the engine would dead-letter it as validation), ${issues}\n`);
    } else {
      failed++;
      io.stderr(`${head}: not converted: mapping produced no Bundle, ${issues}\n`);
    }
    for (const issue of r.issues) io.stderr(`${formatIssue(issue)}\n`);
  });
  io.stderr(`${messages.length - failed}/${messages.length} message(s) converted\n`);
  return failed === 0 ? 0 : 1;
}
