/**
 * Reading configuration files: YAML parsed one way for every kind of file, validated against its
 * JSON Schema in schemas/, and every problem reported as a ConfigError at file:line:col.
 */
export { ConfigError, ConfigErrorList, byPosition, configErrorsOf } from './config-error.js';
export { YamlLocator, type SourcePosition } from './yaml-locator.js';
export { readYaml, nonTextKeys, type ReadYamlOptions, type YamlFile } from './read-yaml.js';
export { compileSchema, loadSchema, schemaPath, type SchemaError } from './schema.js';
export { describeSchemaError, schemaErrors, settingName, pointerSegments, type LocatedMessage, type SchemaWording } from './schema-errors.js';
