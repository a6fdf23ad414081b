export { deterministicId, uuidv5, uuidUrn, ID_NAMESPACE } from './ids.js';
export { validateResource, validateBundle, loadFhirDefinitions } from './validate.js';
export type { ValidationProblem } from './validate.js';
export { validateBundleFast, validateResourceFast, validateElementValue, loadFastValidator } from './validate-fast.js';
export type { FastValidationProblem } from './validate-fast.js';
export { structureIndex } from './structure.js';
export type { StructureIndex, TypeDef, ElementDef, KeyDef, TypeRef } from './structure.js';
