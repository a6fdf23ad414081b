export { runReplay, REPLAY_USAGE } from './command.js';
export { replayOutbound, outboundSummary, type OutboundReplayOptions, type OutboundReplayReport } from './outbound.js';
export { replay, newReplayId, type ReplayOptions, type ReplayReport, type ReplayOutcome } from './replay.js';
export { redriveDeadLetter, redriveRaw, type Redrive, type RedriveTarget } from './redrive.js';
export { selectsDeadLetter, selectsRaw, describeSelection, type ReplaySelection, type ReplaySource } from './selection.js';
export { loadCheckpoint, saveCheckpoint, defaultCheckpointDir, type Checkpoint, type ReplayCounts } from './checkpoint.js';
export { diffBundles, formatDiff, entryName, type ResourceDiff } from './diff.js';
export { refusalOf } from './accept.js';
