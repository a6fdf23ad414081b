/**
 * The development broker `start`, `dlq` and `replay` fall back to when $KAFKA_BROKERS is unset.
 * It lives in devtools/ (not production code) and is loaded only on that path, by URL, so nothing
 * here depends on it at build time and an installation without devtools/ (the Docker image) says
 * what to set instead of failing on an import.
 */
import { fileURLToPath } from 'node:url';

/** What the commands need of devtools/local-kafka's LocalKafka. */
export interface DevBroker {
  /** The instance (one per checkout unless $HL7_KAFKA_INSTANCE names another). */
  readonly name: string;
  readonly bootstrap: string;
  readonly logFile: string;
  running(): Promise<boolean>;
  start(): Promise<void>;
  stop(options?: { removeData?: boolean }): Promise<void>;
}

interface DevBrokerModule {
  devBroker(env: NodeJS.ProcessEnv): DevBroker;
}

/** From dist/src/kafka/ to dist/devtools/local-kafka/. */
const DEV_BROKER_MODULE = new URL('../../devtools/local-kafka/index.js', import.meta.url);

/** The development broker cannot be used as configured (not installed, bad instance name): a usage error. */
export class DevBrokerError extends Error {}

export async function loadDevBroker(env: NodeJS.ProcessEnv = process.env): Promise<DevBroker> {
  let mod: DevBrokerModule;
  try {
    mod = (await import(DEV_BROKER_MODULE.href)) as DevBrokerModule;
  } catch (err) {
    // Only the module itself missing; a broken import inside it is a bug to report as it is.
    if ((err as NodeJS.ErrnoException).code === 'ERR_MODULE_NOT_FOUND' && String((err as Error).message).includes(fileURLToPath(DEV_BROKER_MODULE))) {
      throw new DevBrokerError(
        'KAFKA_BROKERS is unset and this installation has no development Kafka (devtools/ is not part of it): set KAFKA_BROKERS=host:port',
      );
    }
    throw err;
  }
  try {
    return mod.devBroker(env);
  } catch (err) {
    throw new DevBrokerError(err instanceof Error ? err.message : String(err));
  }
}
