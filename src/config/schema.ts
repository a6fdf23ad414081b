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
 * The sentence a schema gives for a failed `pattern` (or, inside `propertyNames`, for a key of the
 * wrong form). The annotation editors read too (VS Code's YAML and JSON support show it), so an
 * analyst sees the same words in the editor and in the engine's log.
 */
export const PATTERN_MESSAGE = 'patternErrorMessage';

/**
 * A validator for `schemas/<name>`, or for one of its definitions (`definition: 'messageFile'`
 * validates against #/definitions/messageFile): every error at once, not just the first, so one
 * edit round fixes them all; union types allowed ("a code or { code, display }"); verbose, so each
 * error carries its parent schema, which lists the known keys for "did you mean" and the pattern
 * explanation.
 */
export function compileSchema<T>(name: string, definition?: string): ValidateFunction<T> {
  const ajv = new Ajv({ allErrors: true, strict: true, allowUnionTypes: true, verbose: true });
  ajv.addKeyword({ keyword: PATTERN_MESSAGE, schemaType: 'string' });
  const schema = loadSchema(name);
  if (definition === undefined) return ajv.compile<T>(schema);
  const id: unknown = schema['$id'];
  if (typeof id !== 'string') throw new Error(`schemas/${name} has no $id, so its definitions cannot be compiled alone`);
  ajv.addSchema(schema);
  const validate = ajv.getSchema<T>(`${id}#/definitions/${definition}`);
  if (validate === undefined) throw new Error(`schemas/${name} has no definition '${definition}'`);
  return validate;
}
