export { runDlq, DLQ_USAGE } from './command.js';
export { kafkaFor, channelsFor, destinationsFor, queuesFor, type DlqQueue, UsageError, type CommandDeps, type CommandIo, type ExitCode } from './command-support.js';
export { ensureAuditTopic, readAudit, writeAudit } from './audit.js';
export { readDeadLetter, summarize, causeOf, contentOf, previousOf, type DeadLetter, type DeadLetterSummary } from './dead-letter.js';
export {
  loadDeadLetters,
  filterDeadLetters,
  groupByCause,
  parseTime,
  parseOffsetRef,
  type CauseGroup,
  type DeadLetterStatus,
  type DlqFilter,
  type InspectedDeadLetter,
} from './inspect.js';
export { planResubmit, resubmit, segmentDiff, editedMessageText, originalText, EditRefused, ResubmitFailed, RESUBMIT_LISTENER, type ResubmitPlan, type ResubmitResult } from './resubmit.js';
