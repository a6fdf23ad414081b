#!/usr/bin/env node
/**
 * hl7-engine start | check | send | convert | deliver | dlq | replay | users | console (each takes --help)
 * Exit codes: 0 success, 1 runtime failure (e.g. a message without AA), 2 invalid usage or config.
 */
import { parseArgs } from 'node:util';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadChannels } from './channel/index.js';
import { loadMappingSet, MappingLoadError } from './mapping/index.js';
import { mappingSetDir, CONVERT_USAGE, runConvert } from './transform/index.js';
import { ConfigReloader, ENGINE_ROLES, Engine, TRANSFORM_CHILD_ENV, TransformChild, reportStarted, serveParent } from './engine/index.js';
import { brokersFromEnv, loadDevBroker, DevBrokerError, type DevBroker } from './kafka/index.js';
import { createLogger, EngineMetrics, startOpsServer, type OpsServer, type Readiness } from './ops/index.js';
import type { ChannelConfig } from './channel/index.js';
import { splitMessagesInFile } from './mllp/split-file.js';
import { MllpSender } from './mllp/sender.js';
import { DLQ_USAGE, kafkaFor, runDlq } from './dlq/index.js';
import { REPLAY_USAGE, runReplay } from './replay/index.js';
import { USERS_USAGE, runUsers, readSecretFromStdin } from './auth/index.js';
import { CONSOLE_OPTIONS, CONSOLE_USAGE, consoleOptionsFrom, startConsole, type RunningConsole } from './console/index.js';
import { createKafka } from './kafka/index.js';
import { CONVERT_V2_USAGE, runConvertToV2 } from './outbound/index.js';
import { DELIVER_USAGE, runDeliver } from './delivery/index.js';

const START_USAGE = `  hl7-engine start [--channels DIR] [--mappings DIR] [--role ingest|transform|all] [--transform-workers N]
                   [--transform-nice N] [--transform-inline]
      Runs every channel in DIR (default ./channels). Kafka: $KAFKA_BROKERS (host:port,...);
      when unset, a local Apache Kafka is assembled and started for you. A channel naming a
      mapping set also converts its messages to FHIR; sets are looked up in --mappings
      (default: the mappings folder beside the channels folder). --role (default all) runs
      only the listeners (ingest) or only the conversion (transform), so each can run as its
      own processes; transform processes of a channel share its consumer group.
      With --role all the conversion runs in a child process (--role transform) at nice
      --transform-nice (default 10), restarted if it exits, so a backlog never delays ACKs;
      --transform-inline runs it in this process instead.
      --transform-workers N conversion threads (default: the cores available; 0 converts on
      the event loop of the process that converts).
      --console [HOST:]PORT also serves the operator console (see hl7-engine console), with
      --users FILE, --index FILE, --destinations DIR, --console-cert F --console-key F,
      --identity-header NAME --trusted-proxy ADDR[,ADDR…] as there.`;
const CHECK_USAGE = `  hl7-engine check [--channels DIR] [--mappings DIR]
      Validates the channel files and the mapping sets they name, and exits; starts nothing.`;
const SEND_USAGE = `  hl7-engine send FILE... --to HOST:PORT [--tls] [--ca F] [--cert F] [--key F] [--servername N]
                  [--insecure] [--timeout MS] [--retries N]
      Sends every message in the files, one at a time, and waits for each ACK (matched by
      MSA-2 = MSH-10). Exits 0 only if every message got AA (or CA).`;

/** Each command's usage, for `hl7-engine COMMAND --help`. */
const COMMAND_USAGE: Readonly<Record<string, string>> = {
  start: START_USAGE,
  check: CHECK_USAGE,
  send: SEND_USAGE,
  convert: `${CONVERT_USAGE}\n${CONVERT_V2_USAGE}`,
  dlq: DLQ_USAGE,
  replay: REPLAY_USAGE,
  users: USERS_USAGE,
  console: CONSOLE_USAGE,
  deliver: DELIVER_USAGE,
};

const USAGE = `usage:\n${Object.values(COMMAND_USAGE).join('\n')}
Every command takes --help.`;

function fail(message: string, code = 2): never {
  process.stderr.write(`${message}\n`);
  process.exit(code);
}

function loadOrExit(dir: string) {
  const { channels, errors } = loadChannels(dir);
  if (errors.length > 0) {
    for (const e of errors) process.stderr.write(`${e.message}\n`);
    fail(`${errors.length} error(s) in ${dir}; nothing started`);
  }
  if (channels.length === 0) fail(`no channel files (*.yaml) in ${dir}`);
  return channels;
}

async function start(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      channels: { type: 'string', default: 'channels' },
      mappings: { type: 'string' },
      role: { type: 'string', default: 'all' },
      'transform-workers': { type: 'string' },
      'transform-nice': { type: 'string', default: '10' },
      'transform-inline': { type: 'boolean', default: false },
      console: { type: 'string' },
      ...CONSOLE_OPTIONS,
    },
  });
  const role = ENGINE_ROLES.find((r) => r === values.role);
  if (!role) fail(`--role must be one of ${ENGINE_ROLES.join(', ')} (got "${values.role}")\n${START_USAGE}`);
  const workersArg = values['transform-workers'];
  const workers = workersArg === undefined ? undefined : Number(workersArg);
  if (workers !== undefined && !(Number.isInteger(workers) && workers >= 0 && workers <= 256)) {
    fail(`--transform-workers must be a whole number from 0 to 256 (got "${workersArg}")\n${START_USAGE}`);
  }
  const nice = Number(values['transform-nice']);
  if (!(Number.isInteger(nice) && nice >= 0 && nice <= 19)) fail(`--transform-nice must be a whole number from 0 to 19 (got "${values['transform-nice']}")\n${START_USAGE}`);
  // Started by a parent `start` (role all) to convert: no operations server, no banner; the
  // parent asks for readiness and metrics over the IPC channel.
  const asChild = role === 'transform' && process.env[TRANSFORM_CHILD_ENV] === '1' && typeof process.send === 'function';
  const split = role === 'all' && !values['transform-inline'];
  const dir = resolve(values.channels!);
  const channels = loadOrExit(dir);
  const mappingsRoot = values.mappings ? resolve(values.mappings) : undefined;
  // The transform process loads the mapping sets too, but a broken one must refuse this start
  // (exit 2 with each file:line:col), as it does when conversion runs here.
  if (split) {
    const broken = mappingSetErrors(channels, mappingsRoot);
    if (broken.size > 0) fail(`${[...broken.values()].flat().join('\n')}\n${broken.size} channel(s) with a mapping set that does not load; nothing started`);
  }
  let consoleOpts: ReturnType<typeof consoleOptionsFrom> | null = null;
  try {
    if (values.console !== undefined) consoleOpts = consoleOptionsFrom(values.console, values);
  } catch (err) {
    fail(err instanceof Error ? err.message : String(err));
  }
  const logger = createLogger(asChild ? { role: 'transform' } : {});
  let brokers = brokersFromEnv();
  let local: DevBroker | null = null;
  if (!brokers) {
    try {
      local = await loadDevBroker();
    } catch (err) {
      if (err instanceof DevBrokerError) fail(err.message);
      throw err;
    }
    process.stdout.write(`KAFKA_BROKERS is unset: starting local Apache Kafka ${local.name} (first run downloads it from Maven Central)...\n`);
    await local.start();
    brokers = [local.bootstrap];
    process.stdout.write(`local Kafka ${local.name} serving at ${local.bootstrap} (log: ${local.logFile})\n`);
  }
  const metrics = new EngineMetrics();
  const engine = new Engine({
    channels,
    brokers,
    logger,
    metrics,
    role: split ? 'ingest' : role,
    transform: { ...(mappingsRoot ? { mappingsRoot } : {}), ...(workers !== undefined ? { workers } : {}) },
  });
  const transformChild = split
    ? new TransformChild({
        script: fileURLToPath(import.meta.url),
        args: ['start', '--role', 'transform', '--channels', dir, ...(mappingsRoot ? ['--mappings', mappingsRoot] : []), ...(workersArg !== undefined ? ['--transform-workers', workersArg] : [])],
        env: { ...process.env, KAFKA_BROKERS: brokers.join(',') },
        nice,
        logger,
        metrics,
      })
    : null;
  const readiness = async (): Promise<Readiness> => {
    const own = await engine.readiness();
    return transformChild ? transformChild.readiness(own) : own;
  };
  let stopping = false;
  let reloader: ConfigReloader | null = null;
  let operatorConsole: RunningConsole | null = null;
  let ops: OpsServer | null = null;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down: finishing in-flight ACKs');
    await reloader?.close();
    await operatorConsole?.stop().catch(() => undefined);
    const stopped = (err: unknown) => logger.error({ err: err instanceof Error ? err.message : String(err) }, 'stop failed');
    await Promise.all([engine.stop().catch(stopped), transformChild?.stop().catch(stopped)]);
    await ops?.close();
    if (local) await local.stop({ removeData: false });
    process.exit(0);
  };
  if (asChild) {
    serveParent({ readiness, registry: metrics.registry, stop: (why) => void stop(why) });
  } else {
    // Operations HTTP server, up before the engine so /healthz answers and /readyz says 503 while
    // topics are created and listeners bind.
    try {
      ops = await startOpsServer({ registry: transformChild ? transformChild.metricsSource(metrics.registry) : metrics.registry, readiness, logger });
    } catch (err) {
      if (local) await local.stop({ removeData: false });
      fail(err instanceof Error ? err.message : String(err), 1);
    }
    process.stdout.write(`operations: ${ops.url}/metrics, ${ops.url}/healthz, ${ops.url}/readyz\n`);
  }
  // SIGHUP would end the process by default; until the reloader takes it over, it is ignored.
  const hupDuringStart = (): void => logger.warn({ signal: 'SIGHUP' }, 'configuration reload requested while starting; ignored');
  process.on('SIGHUP', hupDuringStart);
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGTERM', () => void stop('SIGTERM'));
  try {
    await engine.start();
  } catch (err) {
    logger.error({ err: err instanceof Error ? err.message : String(err) }, 'engine failed to start');
    if (local) await local.stop({ removeData: false });
    // A broken mapping set is a configuration error: list each problem's file:line:col.
    if (err instanceof MappingLoadError) fail(err.message);
    process.exit(1);
  }
  // After the listeners: ingest never waits for the conversion. Resolves once the child runs or
  // its first start failed (it is then retried with backoff, and /readyz says so).
  await transformChild?.start();
  if (asChild) reportStarted();
  logger.info(
    { channels: channels.map((c) => ({ name: c.name, host: c.listener.host, port: c.listener.port, tls: c.listener.tls !== null, accept: c.accept.messageTypes, topics: c.topics })), brokers, role },
    'engine started',
  );
  // Hot reload: edits to the channels folder or a mapping set in use, or SIGHUP, apply without a restart.
  reloader = new ConfigReloader({ engine, channelsDir: dir, channels, logger, metrics, ...(mappingsRoot ? { mappingsRoot } : {}) });
  reloader.watch();
  reloader.listenForSignal();
  process.off('SIGHUP', hupDuringStart);
  // The transform process watches the same files; a SIGHUP sent to this process reaches it too.
  if (transformChild) process.on('SIGHUP', () => transformChild.reload());
  if (asChild) return;
  for (const r of engine.channels) {
    const a = r.listener.address;
    const types = r.channel.accept.messageTypes?.join(', ') ?? 'all message types';
    process.stdout.write(`channel ${r.channel.name}: send MLLP${r.channel.listener.tls ? ' over TLS' : ''} to ${a.address}:${a.port} (${types}) -> ${r.channel.topics.raw}\n`);
  }
  if (consoleOpts) {
    // After the engine: its topics exist by then, so the console reads what the engine writes.
    operatorConsole = await startConsole({
      kafka: createKafka(brokers, logger, 'hl7-engine-console'),
      channels,
      logger,
      registry: metrics.registry,
      engine: { registry: metrics.registry, readiness },
      ...consoleOpts,
      ...(values.mappings ? { mappingsRoot: resolve(values.mappings) } : {}),
    });
    process.stdout.write(`operator console: ${operatorConsole.url}/ (API described at ${operatorConsole.url}/api/openapi.json)\n`);
  }
  if (role === 'transform') {
    for (const c of channels) process.stdout.write(`channel ${c.name}: transform ${c.topics.raw} -> ${c.topics.fhir} (dead letters ${c.topics.dlq}); no listener in this process\n`);
    process.stdout.write(`Edits to ${dir} or its mapping sets apply on save (or: kill -HUP ${process.pid}). Ctrl-C stops.\n`);
    return;
  }
  if (transformChild) process.stdout.write(`transform: conversion runs in process ${transformChild.pid ?? '(restarting)'} (--role transform, nice ${nice}), restarted if it exits\n`);
  process.stdout.write(`try: node dist/src/cli.js send test-messages/adt/adt-a01.hl7 --to 127.0.0.1:${engine.channels[0]?.listener.address.port}\nEdits to ${dir} or its mapping sets apply on save (or: kill -HUP ${process.pid}). Ctrl-C stops.\n`);
}

async function consoleAlone(argv: string[]): Promise<void> {
  const { values } = parseArgs({ args: argv, options: { listen: { type: 'string', default: '127.0.0.1:8480' }, channels: { type: 'string', default: 'channels' }, mappings: { type: 'string' }, ...CONSOLE_OPTIONS } });
  const channels = loadOrExit(resolve(values.channels!));
  let opts: ReturnType<typeof consoleOptionsFrom>;
  try {
    opts = consoleOptionsFrom(values.listen!, values);
  } catch (err) {
    fail(err instanceof Error ? err.message : String(err));
  }
  const logger = createLogger();
  let kafka;
  try {
    kafka = await kafkaFor({});
  } catch (err) {
    fail(err instanceof Error ? err.message : String(err));
  }
  const running = await startConsole({ kafka, channels, logger, ...opts, ...(values.mappings ? { mappingsRoot: resolve(values.mappings) } : {}) });
  process.stdout.write(`operator console: ${running.url}/ (API described at ${running.url}/api/openapi.json); Ctrl-C stops\n`);
  const stop = async (): Promise<void> => {
    await running.stop();
    process.exit(0);
  };
  process.once('SIGINT', () => void stop());
  process.once('SIGTERM', () => void stop());
}

/** Each problem of a mapping set that does not load, per channel naming one (none when all load). */
function mappingSetErrors(channels: readonly ChannelConfig[], mappingsRoot: string | undefined): Map<ChannelConfig, string[]> {
  const out = new Map<ChannelConfig, string[]>();
  for (const c of channels) {
    const setDir = mappingSetDir(c, mappingsRoot);
    if (!setDir) continue;
    try {
      loadMappingSet(setDir, c.site ?? undefined);
    } catch (err) {
      out.set(c, err instanceof MappingLoadError ? err.errors.map((e) => e.message) : [`${c.file}: mapping set ${setDir}: ${err instanceof Error ? err.message : String(err)}`]);
    }
  }
  return out;
}

function check(argv: string[]): void {
  const { values } = parseArgs({ args: argv, options: { channels: { type: 'string', default: 'channels' }, mappings: { type: 'string' } } });
  const dir = resolve(values.channels!);
  const channels = loadOrExit(dir);
  const mappingsRoot = values.mappings ? resolve(values.mappings) : undefined;
  // A channel is only good if its mapping set loads too: the same check `start` makes.
  const broken = mappingSetErrors(channels, mappingsRoot);
  for (const errors of broken.values()) for (const e of errors) process.stderr.write(`${e}\n`);
  const failed = broken.size;
  for (const c of channels) {
    if (broken.has(c)) continue;
    const setDir = mappingSetDir(c, mappingsRoot);
    const mapping = setDir ? `, mapping ${c.mapping}${c.site ? ` (site ${c.site})` : ''}` : ', raw only (no mapping)';
    process.stdout.write(`ok ${c.file}: channel ${c.name} on ${c.listener.host}:${c.listener.port}${mapping}\n`);
  }
  if (failed > 0) fail(`${failed} channel(s) with a mapping set that does not load`);
}

async function send(argv: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      to: { type: 'string' },
      tls: { type: 'boolean', default: false },
      ca: { type: 'string' },
      cert: { type: 'string' },
      key: { type: 'string' },
      servername: { type: 'string' },
      insecure: { type: 'boolean', default: false },
      timeout: { type: 'string', default: '10000' },
      retries: { type: 'string', default: '3' },
    },
  });
  if (!values.to) fail(`send needs --to HOST:PORT\n${USAGE}`);
  if (positionals.length === 0) fail(`send needs at least one FILE\n${USAGE}`);
  const m = /^(.*):(\d+)$/.exec(values.to);
  if (!m) fail(`--to must be HOST:PORT, got ${values.to}`);
  const host = m[1]!.replace(/^\[(.*)\]$/, '$1');
  const port = Number(m[2]);
  const ackTimeoutMs = Number(values.timeout);
  const retries = Number(values.retries);
  // NaN would make every ACK wait time out at once, or skip every attempt.
  if (!Number.isInteger(ackTimeoutMs) || ackTimeoutMs <= 0) fail(`--timeout must be a positive number of milliseconds, got ${values.timeout}`);
  if (!Number.isInteger(retries) || retries < 0) fail(`--retries must be a whole number >= 0, got ${values.retries}`);
  const backoffMs = 500;
  const useTls = values.tls || Boolean(values.ca || values.cert);
  const sender = new MllpSender({
    host,
    port,
    ackTimeoutMs,
    retries,
    backoffMs,
    ...(useTls
      ? {
          tls: {
            ...(values.ca ? { ca: readFileSync(values.ca) } : {}),
            ...(values.cert ? { cert: readFileSync(values.cert) } : {}),
            ...(values.key ? { key: readFileSync(values.key) } : {}),
            ...(values.servername ? { servername: values.servername } : {}),
            rejectUnauthorized: !values.insecure,
          },
        }
      : {}),
  });
  let total = 0;
  let accepted = 0;
  try {
    await connectWithRetries(sender, retries, backoffMs);
    for (const file of positionals) {
      const messages = splitMessagesInFile(readFileSync(file));
      if (messages.length === 0) process.stdout.write(`${file}: no HL7 message found\n`);
      for (let i = 0; i < messages.length; i++) {
        total++;
        const label = `${file}#${i + 1}`;
        try {
          const ack = await sender.send(messages[i]!);
          const ok = ack.code === 'AA' || ack.code === 'CA';
          if (ok) accepted++;
          process.stdout.write(`${label} ${ack.controlId}: ${ack.code}${ack.text ? ` (${ack.text})` : ''}\n`);
        } catch (err) {
          process.stdout.write(`${label}: failed: ${err instanceof Error ? err.message : String(err)}\n`);
        }
      }
    }
  } finally {
    await sender.close();
  }
  process.stdout.write(`${accepted}/${total} messages acknowledged AA\n`);
  process.exit(accepted === total && total > 0 ? 0 : 1);
}

/**
 * The first connection gets the same retries and backoff as a lost one, so `send` started while
 * the engine restarts waits for it instead of failing at once.
 */
async function connectWithRetries(sender: MllpSender, retries: number, backoffMs: number): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    try {
      await sender.connect();
      return;
    } catch (err) {
      const why = err instanceof Error ? err.message : String(err);
      if (attempt >= retries) throw new Error(`${why} (${attempt + 1} attempt(s)); nothing was sent`);
      await new Promise((r) => setTimeout(r, backoffMs * 2 ** attempt));
    }
  }
}

async function main(): Promise<void> {
  const [cmd, ...rest] = process.argv.slice(2);
  // `COMMAND --help` anywhere on the line prints that command's usage and runs nothing.
  if (cmd !== undefined && (rest.includes('--help') || rest.includes('-h'))) {
    const usage = COMMAND_USAGE[cmd];
    if (usage === undefined) fail(`unknown command ${cmd}\n${USAGE}`);
    process.stdout.write(`usage:\n${usage}\n`);
    return;
  }
  switch (cmd) {
    case 'start':
      return start(rest);
    case 'check':
      return check(rest);
    case 'send':
      return send(rest);
    case 'convert':
      // FHIR → v2 is its own command behind the same verb: the analyst converts both ways.
      if (rest.some((a) => a === '--to' || a.startsWith('--to='))) {
        process.exit(runConvertToV2(rest, { stdout: (t) => process.stdout.write(t), stderr: (t) => process.stderr.write(t) }));
      }
      process.exit(runConvert(rest, { stdout: (t) => process.stdout.write(t), stderr: (t) => process.stderr.write(t) }));
    case 'deliver': {
      const interrupt = new AbortController();
      process.once('SIGINT', () => interrupt.abort());
      process.once('SIGTERM', () => interrupt.abort());
      process.exit(await runDeliver(rest, { stdout: (t) => process.stdout.write(t), stderr: (t) => process.stderr.write(t) }, interrupt.signal));
    }
    case 'dlq':
      process.exit(await runDlq(rest, { stdout: (t) => process.stdout.write(t), stderr: (t) => process.stderr.write(t) }));
    case 'replay': {
      // Ctrl-C finishes the writes in flight and checkpoints them, so --resume picks up there.
      const interrupt = new AbortController();
      process.once('SIGINT', () => interrupt.abort());
      process.once('SIGTERM', () => interrupt.abort());
      process.exit(await runReplay(rest, { stdout: (t) => process.stdout.write(t), stderr: (t) => process.stderr.write(t) }, { signal: interrupt.signal }));
    }
    case 'console':
      return consoleAlone(rest);
    case 'users':
      process.exit(await runUsers(rest, { stdout: (t) => process.stdout.write(t), stderr: (t) => process.stderr.write(t), readSecret: readSecretFromStdin }));
    case undefined:
    case '-h':
    case '--help':
    case 'help':
      process.stdout.write(`${USAGE}\n`);
      return;
    default:
      fail(`unknown command ${cmd}\n${USAGE}`);
  }
}

main().catch((err: unknown) => fail(err instanceof Error ? err.message : String(err), 1));
