/**
 * The JSON Schemas in schemas/ are the single source of truth for what each kind of file may
 * contain: editors read them through the `# yaml-language-server: $schema=` comment and the
 * loaders validate with the very same files, so the two can never disagree.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Ajv, type ErrorObject, type SchemaObject, type ValidateFunction } from 'ajv';

export type SchemaError = ErrorObject;

/** dist/src/config/ → repository root; the schemas ship beside channels/ and mappings/, not inside dist/. */
export function schemaPath(name: string): string {
  return fileURLToPath(new URL(`../../../schemas/${name}`, import.meta.url));
}

const documents = new Map<string, SchemaObject>();

/** The parsed schema document `schemas/<name>` (read once). */
export function loadSchema(name: string): SchemaObject {
  let schema = documents.get(name);
  if (schema === undefined) {
    const path = schemaPath(name);
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? 'unknown error';
      throw new Error(`schema not readable at ${path} (${code}); it ships in schemas/`);
    }
    schema = JSON.parse(text) as SchemaObject;
    documents.set(name, schema);
  }
  return schema;
}

/**
 * A validator for `schemas/<name>`: every error at once, not just the first, so one edit round
 * fixes them all; union types allowed ("a code or { code, display }"); verbose, so each error
 * carries its parent schema, which lists the known keys for "did you mean".
 */
export function compileSchema<T>(name: string): ValidateFunction<T> {
  const ajv = new Ajv({ allErrors: true, strict: true, allowUnionTypes: true, verbose: true });
  return ajv.compile<T>(loadSchema(name));
}
