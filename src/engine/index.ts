export { Engine, type EngineOptions, type RunningChannel } from './engine.js';
