/**
 * The engine's Prometheus metrics (the list is in the README, "Operating it"; the dashboards in
 * grafana/ and the alert rules in prometheus/ read them). Labels are bounded: channel, message type
 * (MSH-9.1^9.2 only from the channel's accepted set, else "other"), ACK code, category, repair
 * kind. Never a control id, a patient id or a peer address.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export class EngineMetrics {
  readonly registry = new Registry();
  readonly messagesReceived = new Counter({
    name: 'hl7_messages_received_total',
    help: 'HL7 messages received, by channel and message type',
    labelNames: ['channel', 'type'] as const,
    registers: [this.registry],
  });
  readonly acks = new Counter({
    name: 'hl7_acks_total',
    help: 'ACKs sent, by channel and acknowledgment code',
    labelNames: ['channel', 'code'] as const,
    registers: [this.registry],
  });
  readonly ackLatency = new Histogram({
    name: 'hl7_ack_latency_seconds',
    help: 'Time from a complete frame to its ACK being written',
    labelNames: ['channel'] as const,
    buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });
  readonly charsetDecisions = new Counter({
    name: 'hl7_charset_decisions_total',
    help: 'How each message charset was decided (bom, msh18, utf8-valid, fallback)',
    labelNames: ['channel', 'source', 'charset'] as const,
    registers: [this.registry],
  });
  readonly charsetRepairs = new Counter({
    name: 'hl7_charset_repairs_total',
    help: 'Repairs applied to decoded messages, by kind',
    labelNames: ['channel', 'kind'] as const,
    registers: [this.registry],
  });
  readonly dlq = new Counter({
    name: 'hl7_dlq_total',
    help: 'Records written to the dead-letter topic, by category',
    labelNames: ['channel', 'category'] as const,
    registers: [this.registry],
  });
  readonly duplicates = new Counter({
    name: 'hl7_duplicates_total',
    help: 'Resent messages recognised as already stored (ACKed AA, not republished)',
    labelNames: ['channel'] as const,
    registers: [this.registry],
  });
  readonly discardedBytes = new Counter({
    name: 'hl7_mllp_discarded_bytes_total',
    help: 'Bytes received outside MLLP frames and discarded',
    labelNames: ['channel'] as const,
    registers: [this.registry],
  });
  readonly oversizeFrames = new Counter({
    name: 'hl7_mllp_oversize_frames_total',
    help: 'Frames larger than the channel maximum (answered AR, connection closed)',
    labelNames: ['channel'] as const,
    registers: [this.registry],
  });
  readonly framesAbandoned = new Counter({
    name: 'hl7_mllp_frames_abandoned_total',
    help: 'Unfinished frames given up (reason timeout: not completed within frameTimeoutSeconds; memory: channel maxBufferedBytes reached), dead-lettered, answered AR, connection closed',
    labelNames: ['channel', 'reason'] as const,
    registers: [this.registry],
  });
  readonly closesForced = new Counter({
    name: 'hl7_mllp_closes_forced_total',
    help: 'Connections destroyed because the peer did not close its side within closeGraceSeconds of our half-close',
    labelNames: ['channel'] as const,
    registers: [this.registry],
  });
  /** Set by the engine: bytes each channel's listener holds in unfinished frames. */
  bufferedBytesByChannel: () => ReadonlyArray<readonly [string, number]> = () => [];
  readonly bufferedBytes = new Gauge({
    name: 'hl7_mllp_buffered_bytes',
    help: 'Memory held in unfinished MLLP frames, per channel (capped by listener.maxBufferedBytes)',
    labelNames: ['channel'] as const,
    registers: [this.registry],
    collect: () => {
      this.bufferedBytes.reset();
      for (const [channel, bytes] of this.bufferedBytesByChannel()) this.bufferedBytes.set({ channel }, bytes);
    },
  });
  readonly connections = new Gauge({
    name: 'hl7_connections',
    help: 'Open MLLP connections',
    labelNames: ['channel'] as const,
    registers: [this.registry],
  });
  readonly connectionsRefused = new Counter({
    name: 'hl7_connections_refused_total',
    help: 'Connections refused (address not allowed, certificate subject not allowed, too many connections, too many from one address)',
    labelNames: ['channel', 'reason'] as const,
    registers: [this.registry],
  });
  readonly publishSeconds = new Histogram({
    name: 'hl7_kafka_publish_seconds',
    help: 'Duration of one Kafka produce request (a group commit of several records)',
    labelNames: ['outcome'] as const,
    buckets: [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [this.registry],
  });
  readonly publishBatchRecords = new Histogram({
    name: 'hl7_kafka_publish_batch_records',
    help: 'Records per Kafka produce request (group commit size)',
    buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048],
    registers: [this.registry],
  });

  // Operations: set by the readiness probe, which the ops server also runs before each scrape so
  // the value is fresh even when nothing polls /readyz.
  readonly kafkaUp = new Gauge({
    name: 'hl7_kafka_up',
    help: '1 when the last Kafka reachability check (describeCluster) succeeded in time, else 0',
    // With the transform in a process of its own, each process probes: down if either is down.
    aggregator: 'min',
    registers: [this.registry],
  });

  // ---- transform stage (issue 3: src/transform/) -------------------------------------------
  readonly conversionSeconds = new Histogram({
    name: 'hl7_conversion_seconds',
    help: 'Time to turn one raw record into a Bundle or a dead letter (envelope, parse, mapping)',
    labelNames: ['channel', 'outcome'] as const,
    buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [this.registry],
  });
  readonly bundlesPublished = new Counter({
    name: 'hl7_bundles_published_total',
    help: 'FHIR Bundles Kafka acknowledged on the fhir topic (a redelivered record counts again)',
    labelNames: ['channel'] as const,
    registers: [this.registry],
  });
  readonly conversionIssues = new Counter({
    name: 'hl7_conversion_issues_total',
    help: 'Issues reported by conversions, by issue code',
    labelNames: ['channel', 'code'] as const,
    registers: [this.registry],
  });
  readonly unknownCodes = new Counter({
    name: 'hl7_unknown_codes_total',
    help: 'Codes not found in their code table (original coding kept), by table',
    labelNames: ['channel', 'table'] as const,
    registers: [this.registry],
  });
  readonly transformLag = new Gauge({
    name: 'hl7_transform_lag_records',
    help: 'Raw records not yet transformed, per raw partition, as of the last fetched batch',
    labelNames: ['channel', 'partition'] as const,
    registers: [this.registry],
  });
  readonly transformPublishFailures = new Counter({
    name: 'hl7_transform_publish_failures_total',
    help: 'Failed writes of a Bundle or dead letter; the transform retries and does not commit meanwhile',
    labelNames: ['channel'] as const,
    registers: [this.registry],
  });
  readonly transformUp = new Gauge({
    name: 'hl7_transform_up',
    help: '1 while the channel\'s transform consumer is in its group and consuming, 0 while it is down (restarting with backoff)',
    labelNames: ['channel'] as const,
    registers: [this.registry],
  });
  readonly transformRestarts = new Counter({
    name: 'hl7_transform_restarts_total',
    help: 'Transform consumers replaced by a new one after they stopped, by reason (connection, rebalance, fenced, crash, start-failed, stalled)',
    labelNames: ['channel', 'reason'] as const,
    registers: [this.registry],
  });
  readonly transformThreadsConfigured = new Gauge({
    name: 'hl7_transform_threads_configured',
    help: 'Conversion threads this process is configured to run (transform.workers; 0 = conversion on the main event loop)',
    registers: [this.registry],
  });
  readonly transformThreadsRunning = new Gauge({
    name: 'hl7_transform_threads_running',
    help: 'Conversion threads running now; below configured while one is replaced or cannot start (its records are then converted on the main event loop)',
    registers: [this.registry],
  });
  readonly transformThreadRestarts = new Counter({
    name: 'hl7_transform_thread_restarts_total',
    help: 'Conversion threads replaced, by reason (exit: died while running, its records sent again to the new one; start-failed: could not start, retried with backoff)',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });
  // ---- end of transform stage ----------------------------------------------------------------

  // ---- hot reload (src/engine/reload.ts) -----------------------------------------------------
  readonly configReloads = new Counter({
    name: 'hl7_config_reloads_total',
    help: 'Configuration reloads (channels/ and mappings/), by result: success, or failure when an edit was rejected and the last good config kept running',
    labelNames: ['result'] as const,
    // Both processes of `start` (ingest and its transform process) reload the same edit: one reload.
    aggregator: 'max',
    registers: [this.registry],
  });
  readonly configLastReloadSuccess = new Gauge({
    name: 'hl7_config_last_reload_success_timestamp_seconds',
    help: 'Unix time of the last configuration that loaded and was applied (the start-up config counts)',
    // The older of the two processes' times: an edit only one of them took is not yet applied.
    aggregator: 'min',
    registers: [this.registry],
  });
  // ---- end of hot reload ---------------------------------------------------------------------

  constructor(opts: { defaultMetrics?: boolean } = {}) {
    if (opts.defaultMetrics ?? true) collectDefaultMetrics({ register: this.registry });
  }
}
