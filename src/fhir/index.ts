export { deterministicId, uuidv5, uuidUrn, ID_NAMESPACE } from './ids.js';
export { validateResource, validateBundle, loadFhirDefinitions } from './validate.js';
export type { ValidationProblem } from './validate.js';
