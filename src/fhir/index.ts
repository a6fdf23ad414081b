export { deterministicId, uuidv5, uuidUrn, ID_NAMESPACE } from './ids.js';
