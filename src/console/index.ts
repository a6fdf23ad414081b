/**
 * The operator console: an index of the engine's topics that Kafka can rebuild, and a JSON API
 * (described at /api/openapi.json) for searching messages, following their lineage and deciding
 * on dead letters, each decision audited. Users and sessions come from src/auth.
 */
export { startConsole, defaultIndexPath, type ConsoleOptions, type RunningConsole } from './console.js';
export { IndexStore, INDEX_VERSION } from './index-store.js';
export { Indexer } from './indexer.js';
export { ConsoleQueries, DEFAULT_SLA_MINUTES, OUTCOMES, memberCursor, pageCursor, parseMemberCursor, parsePageCursor, type MemberCursor, type PageCursor, type QueueEntry, type QueueGroup, type QueueMember, type SearchFilter, type MessageView, type DeadLetterView, type Outcome } from './queries.js';
export { ConsoleMetrics } from './metrics.js';
export { ChannelOverviews, type ChannelOverview, type EngineView } from './channels.js';
export { openApiDocument } from './openapi.js';
export { CONSOLE_USAGE, consoleOptionsFrom, CONSOLE_OPTIONS } from './command.js';
