export { Ingest, type IngestResult, type IngestDeps } from './pipeline.js';
export { DedupeMemory, dedupeKey } from './dedupe.js';
