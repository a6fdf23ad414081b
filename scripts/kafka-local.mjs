#!/usr/bin/env node
// Local Apache Kafka for development: `up` assembles the broker from Maven Central jars on first
// use, starts it detached on 127.0.0.1 and prints the bootstrap address; `down` stops it by pid.
// Usage: node scripts/kafka-local.mjs up|down|status [--name N] [--port P] [--controller-port P]
import { parseArgs } from 'node:util';
const { LocalKafka } = await import(new URL('../dist/src/kafka/local-broker.js', import.meta.url));
const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { name: { type: 'string', default: 'dev' }, port: { type: 'string' }, 'controller-port': { type: 'string' } },
});
const kafka = new LocalKafka({
  name: values.name,
  detached: true,
  port: values.port ? Number(values.port) : undefined,
  controllerPort: values['controller-port'] ? Number(values['controller-port']) : undefined,
});
const cmd = positionals[0] ?? 'status';
if (cmd === 'up') {
  await kafka.start();
  console.log(`Kafka ${values.name} serving at ${kafka.bootstrap} (pid ${kafka.pid}); log: ${kafka.logFile}`);
} else if (cmd === 'down') {
  await kafka.stop({ removeData: false });
  console.log(`Kafka ${values.name} stopped`);
} else if (cmd === 'status') {
  console.log((await kafka.running()) ? `running at ${kafka.bootstrap} (pid ${kafka.pid})` : 'not running');
} else {
  console.error('usage: kafka-local.mjs up|down|status [--name N] [--port P]');
  process.exit(2);
}
