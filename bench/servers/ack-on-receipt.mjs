// The engine's ingest path without storage, for the ack-on-receipt contender: the real Ingest
// (charset, parse, accept rules, duplicate memory, envelope, ACK) and the real MllpListener, but
// a producer stand-in that answers at once as Kafka would and keeps nothing. A sender that gets
// an AA here may lose the message: it exists only to measure the engine against servers that ACK
// on receipt. Nothing in src/ can reach this mode; only bench/ builds it.
// bench/ack-on-receipt-check.mjs checks it still answers the way the benchmark assumes.
const { DedupeMemory, Ingest } = await import('../../dist/src/ingest/index.js');
const { MllpListener } = await import('../../dist/src/mllp/index.js');

/** Resolves every publish at once (through the ingest producer interface) and counts the calls. */
export function producerStandIn() {
  let calls = 0;
  return {
    get calls() {
      return calls;
    },
    publish(record, _timeoutMs, onStored) {
      calls++;
      const at = { topic: record.topic, partition: 0, offset: String(calls - 1) };
      onStored?.(at);
      return Promise.resolve(at);
    },
  };
}

/** Ingest for `channel` on the stand-in producer. */
export function ingestWithoutStorage(channel, { metrics, logger }) {
  const producer = producerStandIn();
  const ingest = new Ingest(channel, { producer, dedupe: new DedupeMemory(channel.dedupe), metrics, logger });
  return { ingest, producer };
}

/** A bound listener on `channel`'s host and port answering through ingestWithoutStorage. */
export async function listenWithoutStorage(channel, { metrics, logger }) {
  const { ingest } = ingestWithoutStorage(channel, { metrics, logger });
  const name = channel.name;
  const l = channel.listener;
  const listener = new MllpListener(
    {
      channel: name,
      host: l.host,
      port: l.port,
      maxFrameBytes: l.maxFrameBytes,
      idleTimeoutSeconds: l.idleTimeoutSeconds,
      maxConnections: l.maxConnections,
      tls: l.tls,
      isAddressAllowed: () => true,
    },
    ingest,
    {
      // The same per-answer metrics the engine keeps, so the contender pays what the engine pays.
      connectionOpened: () => metrics.connections.inc({ channel: name }),
      connectionClosed: () => metrics.connections.dec({ channel: name }),
      answered: (a, seconds) => {
        metrics.acks.inc({ channel: name, code: a.code });
        metrics.ackLatency.observe({ channel: name }, seconds);
      },
    },
  );
  await listener.listen();
  return listener;
}
