export { Engine } from './engine.js';
export type { EngineOptions, EngineRole, RunningChannel, TransformSetup } from './runtime.js';
export { ENGINE_ROLES } from './runtime.js';
export type { ApplyReport, ChannelApplyFailure, ChannelChange, ConfigTarget } from './apply.js';
export { ConfigReloader, type ReloaderOptions, type ReloadOutcome, type ReloadTrigger } from './reload.js';
export { TRANSFORM_CHILD_ENV, TransformChild, reportStarted, serveParent, type TransformChildOptions } from './transform-child.js';
