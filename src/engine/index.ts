export { Engine, type EngineOptions, type RunningChannel, type TransformSetup } from './engine.js';
