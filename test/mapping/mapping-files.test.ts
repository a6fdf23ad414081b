/**
 * Every YAML file under mappings/ names its schema in a `# yaml-language-server: $schema=` line,
 * the schema editors check it against; each must validate against that schema, so what an editor
 * accepts is what the engine loads.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { compileSchema, schemaPath } from '../../src/config/index.js';

// dist/test/mapping/ → repository root.
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const MAPPINGS = join(ROOT, 'mappings');

function yamlFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir).sort()) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...yamlFiles(path));
    else if (/\.ya?ml$/.test(name)) out.push(path);
  }
  return out;
}

const files = yamlFiles(MAPPINGS);

/** The schema file a YAML file names for editors, resolved from the YAML file's folder. */
function declaredSchema(file: string): string {
  const line = readFileSync(file, 'utf8').split('\n').find((l) => l.startsWith('# yaml-language-server: $schema='));
  assert.ok(line, `${relative(ROOT, file)} names no schema (# yaml-language-server: $schema=…)`);
  return resolve(dirname(file), line.slice(line.indexOf('=') + 1).trim());
}

test('the mapping folder holds message mappings, common.yaml, sites and tables to check', () => {
  const kinds = new Map<string, number>();
  for (const f of files) {
    const kind = basename(f) === 'common.yaml' ? 'common' : basename(dirname(f));
    kinds.set(kind, (kinds.get(kind) ?? 0) + 1);
  }
  assert.equal(kinds.get('common'), 1);
  assert.ok((kinds.get('messages') ?? 0) >= 5, `message mappings found: ${kinds.get('messages') ?? 0}`);
  assert.ok((kinds.get('sites') ?? 0) >= 2, `sites found: ${kinds.get('sites') ?? 0}`);
  assert.ok((kinds.get('tables') ?? 0) >= 30, `tables found: ${kinds.get('tables') ?? 0}`);
  assert.equal(files.length, [...kinds.values()].reduce((a, b) => a + b, 0));
});

for (const file of files) {
  const name = relative(MAPPINGS, file);
  test(`${name} validates against the schema it names`, () => {
    const schema = declaredSchema(file);
    const schemaName = basename(schema);
    assert.equal(schema, schemaPath(schemaName), `${name} names a schema outside schemas/: ${schema}`);
    const validate = compileSchema(schemaName);
    const value: unknown = parse(readFileSync(file, 'utf8'));
    assert.equal(validate(value), true, JSON.stringify(validate.errors, null, 2));
  });
}

test('message mappings validate as message files and common.yaml as the common file, not the other way round', () => {
  const messageFile = compileSchema('mapping.schema.json', 'messageFile');
  const commonFile = compileSchema('mapping.schema.json', 'commonFile');
  // Inbound mapping files only: outbound ones (mappings/outbound/) name their own schema, checked above.
  const mappingFiles = files.filter((f) => (basename(dirname(f)) === 'messages' || basename(f) === 'common.yaml') && basename(declaredSchema(f)) === 'mapping.schema.json');
  assert.ok(mappingFiles.length >= 6, `mapping files found: ${mappingFiles.length}`);
  for (const file of mappingFiles) {
    const value: unknown = parse(readFileSync(file, 'utf8'));
    const isCommon = basename(file) === 'common.yaml';
    assert.equal(messageFile(value), !isCommon, `${relative(MAPPINGS, file)} as a message file`);
    assert.equal(commonFile(value), isCommon, `${relative(MAPPINGS, file)} as common.yaml`);
  }
});
