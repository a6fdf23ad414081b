// One home for "a free port" in tests: the development broker's own helper, not a copy.
export { freePort } from '../../devtools/local-kafka/index.js';
