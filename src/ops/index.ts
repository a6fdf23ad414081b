export { EngineMetrics } from './metrics.js';
export { capForLog, createLogger, LOG_FIELD_CAP, LOG_VALUE_CAP, type Logger } from './logger.js';
export {
  startOpsServer,
  opsAddressFromEnv,
  DEFAULT_METRICS_HOST,
  DEFAULT_METRICS_PORT,
  type OpsServer,
  type OpsServerOptions,
} from './http.js';
export { KafkaProbe, type KafkaProbeOptions, type Readiness, type ReadinessCheck } from './readiness.js';
