export { Ingest, type IngestResult, type IngestDeps, type Durability } from './pipeline.js';
export { DedupeMemory, dedupeKey } from './dedupe.js';
