#!/usr/bin/env node
// Local Apache Kafka for development: `up` assembles the broker from Maven Central jars on first
// use, starts it detached on 127.0.0.1 and prints the bootstrap address; `down` stops it by pid.
// The instance is this checkout's (the one `hl7-engine start|dlq|replay` use when KAFKA_BROKERS is
// unset) unless --name or $HL7_KAFKA_INSTANCE names another.
// Usage: node scripts/kafka-local.mjs up|down|status [--name N] [--version V] [--port P] [--controller-port P]
import { parseArgs } from 'node:util';
const { LocalKafka, KAFKA_VERSION, resolveInstanceName } = await import(new URL('../dist/devtools/local-kafka/index.js', import.meta.url));
const USAGE = 'usage: kafka-local.mjs up|down|status [--name N] [--version V] [--port P] [--controller-port P]';
let args;
let kafka;
try {
  args = parseArgs({
    allowPositionals: true,
    options: { name: { type: 'string' }, version: { type: 'string' }, port: { type: 'string' }, 'controller-port': { type: 'string' } },
  });
  kafka = new LocalKafka({
    name: resolveInstanceName({ name: args.values.name }),
    version: args.values.version ?? KAFKA_VERSION,
    detached: true,
    port: args.values.port ? Number(args.values.port) : undefined,
    controllerPort: args.values['controller-port'] ? Number(args.values['controller-port']) : undefined,
  });
} catch (err) {
  console.error(`${err.message}\n${USAGE}`);
  process.exit(2);
}
const cmd = args.positionals[0] ?? 'status';
if (cmd === 'up') {
  await kafka.start();
  console.log(`Kafka ${kafka.version} ${kafka.name} serving at ${kafka.bootstrap} (pid ${kafka.pid}); log: ${kafka.logFile}`);
} else if (cmd === 'down') {
  await kafka.stop({ removeData: false });
  console.log(`Kafka ${kafka.name} stopped`);
} else if (cmd === 'status') {
  console.log((await kafka.running()) ? `Kafka ${kafka.name} running at ${kafka.bootstrap} (pid ${kafka.pid})` : `Kafka ${kafka.name} not running`);
} else {
  console.error(USAGE);
  process.exit(2);
}
