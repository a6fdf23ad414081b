/**
 * `hl7-engine convert --to v2 FILE.json`: the analyst's bench for outbound mappings. Reads a FHIR
 * Bundle (or one resource), writes the v2 message on stdout with LF between segments so it reads
 * in a terminal (the engine sends CR), and on stderr the mapping used, MSH-10 and each issue.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { MappingLoadError } from '../mapping/index.js';
import { generateMessage, loadOutboundSet, type OutboundSet } from './generate.js';

export const DEFAULT_OUTBOUND_SET = fileURLToPath(new URL('../../../mappings/outbound', import.meta.url));

export const CONVERT_V2_USAGE = `  hl7-engine convert --to v2 FILE.json [--outbound DIR] [--mappings DIR] [--site S]
                  [--message ADT^A04 | --mapping ID] [--source-key KEY]
      Converts a FHIR Bundle (or one resource) to an HL7 v2 message with the outbound mappings
      (default ${DEFAULT_OUTBOUND_SET}); code tables and
      sites come from --mappings (default: the "default" set beside the outbound folder). The
      message goes to stdout (LF between segments for reading; the engine sends CR), the mapping,
      MSH-10 and issues to stderr. MSH-10 is derived from --source-key, else the Bundle id, else
      its content. Exits 0 when a message was written, 1 when no mapping fits, 2 on usage or
      mapping errors.`;

export interface V2CommandIo {
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
}

/** Runs the command on argv without `convert`; never exits the process. */
export function runConvertToV2(argv: string[], io: V2CommandIo): 0 | 1 | 2 {
  let values: { to?: string; outbound?: string; mappings?: string; site?: string; message?: string; mapping?: string; 'source-key'?: string };
  let file: string;
  try {
    const parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        to: { type: 'string' },
        outbound: { type: 'string' },
        mappings: { type: 'string' },
        site: { type: 'string' },
        message: { type: 'string' },
        mapping: { type: 'string' },
        'source-key': { type: 'string' },
      },
    });
    values = parsed.values;
    if (values.to !== 'v2') throw new Error(`--to takes v2 (got ${values.to ?? 'nothing'})`);
    if (values.message !== undefined && values.mapping !== undefined) throw new Error('give --message or --mapping, not both');
    if (parsed.positionals.length !== 1) throw new Error(`convert --to v2 needs one FILE.json, got ${parsed.positionals.length}`);
    file = parsed.positionals[0]!;
  } catch (err) {
    io.stderr(`${err instanceof Error ? err.message : String(err)}\nusage:\n${CONVERT_V2_USAGE}\n`);
    return 2;
  }
  let set: OutboundSet;
  const dir = values.outbound === undefined ? DEFAULT_OUTBOUND_SET : resolve(values.outbound);
  try {
    set = loadOutboundSet(dir, { ...(values.mappings ? { inbound: resolve(values.mappings) } : {}), ...(values.site ? { site: values.site } : {}) });
  } catch (err) {
    if (!(err instanceof MappingLoadError)) throw err;
    for (const e of err.errors) io.stderr(`${e.message}\n`);
    io.stderr(`${err.errors.length} error(s) in the outbound mapping set ${dir}; nothing converted\n`);
    return 2;
  }
  let input: unknown;
  try {
    input = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    io.stderr(`cannot read ${file} as JSON: ${err instanceof Error ? err.message : String(err)}\n`);
    return 2;
  }
  if (typeof input !== 'object' || input === null || typeof (input as { resourceType?: unknown }).resourceType !== 'string') {
    io.stderr(`${file}: not a FHIR resource or Bundle (no resourceType)\n`);
    return 2;
  }
  const wanted = values.mapping ?? values.message;
  const r = generateMessage(input, set, { ...(wanted ? { mapping: wanted } : {}), ...(values['source-key'] ? { sourceKey: values['source-key'] } : {}) });
  io.stderr(`outbound set ${set.dir}, site ${set.site.name}\n`);
  if (r.text !== null) {
    io.stdout(r.text.replaceAll('\r', '\n'));
    io.stderr(`${file}: mapping ${r.mappingId ?? ''}, MSH-10 ${r.controlId ?? ''}, ${r.issues.length} issue(s)\n`);
  }
  for (const i of r.issues) io.stderr(`  ${i.severity} ${i.code}${i.location ? ` at ${i.location}` : ''}: ${i.message}\n`);
  return r.text === null ? 1 : 0;
}
