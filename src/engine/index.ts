export {
  Engine,
  type ApplyReport,
  type ChannelApplyFailure,
  type ChannelChange,
  type EngineOptions,
  type RunningChannel,
  type TransformSetup,
} from './engine.js';
export { ConfigReloader, mappingFingerprint, type ReloaderOptions, type ReloadOutcome, type ReloadTrigger } from './reload.js';
