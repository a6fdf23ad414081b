/**
 * Hot reload: an edit to channels/*.yaml or to a mapping set, or a SIGHUP, makes the running
 * engine load everything again and apply it (Engine.apply) without a restart. Everything is
 * loaded and validated before anything changes: an invalid edit is rejected with each problem's
 * file:line:col in the log and in hl7_config_reloads_total{result="failure"}, and the last good
 * configuration keeps running.
 */
import { existsSync, watch, type FSWatcher } from 'node:fs';
import { basename, join, resolve, sep } from 'node:path';
import { loadChannels, type ChannelConfig } from '../channel/index.js';
import { ConfigError } from '../config/index.js';
import { MappingLoadError } from '../mapping/index.js';
import type { EngineMetrics } from '../ops/metrics.js';
import type { Logger } from '../ops/logger.js';
import { mappingSetDir } from '../transform/index.js';
import type { ApplyReport, ConfigTarget } from './apply.js';

export type ReloadTrigger = 'file-change' | 'SIGHUP' | 'manual';

export type ReloadOutcome =
  /** Validated and applied to every channel. */
  | { readonly result: 'applied'; readonly report: ApplyReport }
  /** Invalid: nothing changed. Each error names file:line:col. */
  | { readonly result: 'rejected'; readonly errors: readonly ConfigError[] }
  /** Valid, but some channels could not be changed (they run as before) or applying failed. */
  | { readonly result: 'failed'; readonly report: ApplyReport | null; readonly reason: string };

export interface ReloaderOptions {
  /** The running engine (anything with Engine's apply()). */
  readonly engine: ConfigTarget;
  /** The channels folder the engine was started from. */
  readonly channelsDir: string;
  /** The channels the engine is running, to know which mapping folders to watch. */
  readonly channels: readonly ChannelConfig[];
  /** Root of mapping sets, as given to the engine (default `mappings/` beside the channels folder). */
  readonly mappingsRoot?: string;
  readonly logger: Logger;
  readonly metrics: EngineMetrics;
  /** Quiet time after the last file event before reloading; an editor's save is several events. Default 300 ms. */
  readonly debounceMs?: number;
  /** How long a closing listener may take to answer frames already received. Default 10 s. */
  readonly graceMs?: number;
}

/** Names editors write next to the real file while saving; they never change the configuration. */
function isEditorScratch(name: string): boolean {
  const base = basename(name);
  return base.endsWith('~') || base.startsWith('.#') || /\.(swp|swx|swo|tmp)$/i.test(base) || base === '4913';
}

export class ConfigReloader {
  private readonly opts: ReloaderOptions;
  private readonly channelsDir: string;
  private channels: readonly ChannelConfig[];
  private chain: Promise<unknown> = Promise.resolve();
  private timer: NodeJS.Timeout | null = null;
  private readonly watchers = new Map<string, FSWatcher>();
  private closed = false;
  private readonly onSignal = (): void => void this.reload('SIGHUP');

  constructor(opts: ReloaderOptions) {
    this.opts = opts;
    this.channelsDir = resolve(opts.channelsDir);
    this.channels = opts.channels;
    // The start-up configuration is the first good one.
    opts.metrics.configLastReloadSuccess.set(Date.now() / 1000);
    opts.metrics.configReloads.inc({ result: 'success' }, 0);
    opts.metrics.configReloads.inc({ result: 'failure' }, 0);
  }

  /**
   * Loads channels/ and every mapping set they name, validates all of it, then applies it.
   * Reloads run one after another, never overlapping; this is also what SIGHUP calls.
   */
  reload(trigger: ReloadTrigger = 'manual'): Promise<ReloadOutcome> {
    const run = this.chain.then(() => this.reloadNow(trigger));
    this.chain = run.catch(() => undefined);
    return run;
  }

  /** Reloads on SIGHUP until close(). */
  listenForSignal(): void {
    process.on('SIGHUP', this.onSignal);
  }

  /**
   * Reloads ~300 ms after the last change under the channels folder or a mapping set in use
   * (watched recursively). The set of watched mapping folders follows each applied reload.
   */
  watch(): void {
    this.watchFolder(this.channelsDir, false);
    this.syncMappingWatchers();
  }

  /** Stops watching and listening for the signal; waits for a reload under way. */
  async close(): Promise<void> {
    this.closed = true;
    process.off('SIGHUP', this.onSignal);
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    for (const w of this.watchers.values()) w.close();
    this.watchers.clear();
    await this.chain;
  }

  private async reloadNow(trigger: ReloadTrigger): Promise<ReloadOutcome> {
    const { logger, metrics } = this.opts;
    const channelsDir = this.channelsDir;
    const started = Date.now();
    const outcome = await this.loadAndApply();
    const ms = Date.now() - started;
    if (outcome.result === 'applied') {
      metrics.configReloads.inc({ result: 'success' });
      metrics.configLastReloadSuccess.set(Date.now() / 1000);
      const changed = outcome.report.changes.filter((c) => c.action !== 'unchanged');
      logger.info(
        { trigger, ms, channels: outcome.report.changes.length, changes: changed.map((c) => ({ channel: c.channel, action: c.action, what: c.what })) },
        changed.length > 0 ? 'configuration reloaded' : 'configuration reloaded; nothing changed',
      );
      if (!this.closed) this.syncMappingWatchers();
      return outcome;
    }
    metrics.configReloads.inc({ result: 'failure' });
    if (outcome.result === 'rejected') {
      for (const e of outcome.errors) {
        logger.error({ trigger, file: e.file, line: e.line, col: e.col, rule: e.rule }, `config reload rejected: ${e.message}`);
      }
      logger.error({ trigger, errors: outcome.errors.length, channelsDir }, 'config reload rejected; the last good configuration keeps running');
      return outcome;
    }
    for (const f of outcome.report?.failures ?? []) {
      logger.error({ trigger, channel: f.channel, reason: f.reason }, 'config reload: channel kept its previous configuration');
    }
    logger.error({ trigger, ms, reason: outcome.reason }, 'config reload failed; channels not listed as changed keep their previous configuration');
    return outcome;
  }

  private async loadAndApply(): Promise<ReloadOutcome> {
    const dir = this.channelsDir;
    let channels: ChannelConfig[];
    try {
      const loaded = loadChannels(dir);
      if (loaded.errors.length > 0) return { result: 'rejected', errors: loaded.errors };
      channels = loaded.channels;
    } catch (err) {
      if (err instanceof ConfigError) return { result: 'rejected', errors: [err] };
      throw err;
    }
    if (channels.length === 0) {
      // Most likely a folder caught mid-checkout; stopping every interface needs a deliberate stop.
      return { result: 'rejected', errors: [new ConfigError(dir, 1, 1, 'no channel files (*.yaml) in the channels folder; to stop every channel, stop the engine', 'empty')] };
    }
    let report: ApplyReport;
    try {
      report = await this.opts.engine.apply(channels, this.opts.graceMs);
    } catch (err) {
      if (err instanceof MappingLoadError) return { result: 'rejected', errors: err.errors };
      if (err instanceof ConfigError) return { result: 'rejected', errors: [err] };
      return { result: 'failed', report: null, reason: err instanceof Error ? err.message : String(err) };
    }
    this.channels = channels;
    if (report.failures.length > 0) {
      return { result: 'failed', report, reason: `${report.failures.length} channel(s) could not be changed: ${report.failures.map((f) => f.channel).join(', ')}` };
    }
    return { result: 'applied', report };
  }

  private schedule(): void {
    if (this.closed) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.reload('file-change');
    }, this.opts.debounceMs ?? 300);
    this.timer.unref();
  }

  private watchFolder(dir: string, recursive: boolean): void {
    if (this.watchers.has(dir)) return;
    if (!existsSync(dir)) {
      this.opts.logger.warn({ dir }, 'config folder does not exist; not watched (SIGHUP still reloads)');
      return;
    }
    try {
      const w = watch(dir, { recursive, persistent: false }, (_event, name) => {
        if (name !== null && isEditorScratch(name)) return;
        this.schedule();
      });
      w.on('error', (err) => {
        this.opts.logger.warn({ dir, err: err.message }, 'stopped watching a config folder; SIGHUP still reloads');
        w.close();
        this.watchers.delete(dir);
      });
      this.watchers.set(dir, w);
    } catch (err) {
      this.opts.logger.warn({ dir, err: err instanceof Error ? err.message : String(err) }, 'cannot watch a config folder; SIGHUP still reloads');
    }
  }

  /** Watches the mapping root and each mapping set folder in use outside it; drops the rest. */
  private syncMappingWatchers(): void {
    const root = resolve(this.opts.mappingsRoot ?? join(this.channelsDir, '..', 'mappings'));
    const wanted = new Set<string>();
    if (existsSync(root)) wanted.add(root);
    for (const c of this.channels) {
      const set = mappingSetDir(c, this.opts.mappingsRoot);
      if (set === null) continue;
      const abs = resolve(set);
      if (abs !== root && !abs.startsWith(root + sep)) wanted.add(abs);
    }
    for (const [dir, w] of this.watchers) {
      if (dir === this.channelsDir || wanted.has(dir)) continue;
      w.close();
      this.watchers.delete(dir);
    }
    for (const dir of wanted) this.watchFolder(dir, true);
  }
}
