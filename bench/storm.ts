// A long restart storm against the standalone agent: the harness of
// test/standalone-storm.test.ts, for as long as you like.
// Run: npm run soak:standalone -- --duration 10m [--seed N] [options]; --help lists them.
// Ctrl-C ends the storm early and still drains, checks and reports; a second one exits at once.
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CLI, PLUGIN_DIR } from '../test/helpers/agent-process.ts';
import { netnsUnavailable } from '../test/helpers/netns.ts';
import { runStandaloneStorm, type StormResult } from '../test/helpers/storm.ts';
import { parseBenchFlags } from './flags.ts';
import { parseArgs, USAGE } from './storm-options.ts';

async function main(): Promise<number> {
  const parsed = parseBenchFlags('soak:standalone', USAGE, () => parseArgs(process.argv.slice(2)));
  if (typeof parsed === 'number') return parsed;
  const why = netnsUnavailable() ?? (existsSync(CLI) ? undefined : `missing ${CLI} (npm run build)`);
  if (why) {
    console.error(`soak:standalone cannot run here: ${why}`);
    return 1;
  }
  const stop = new AbortController();
  process.on('SIGINT', () => {
    if (stop.signal.aborted) process.exit(130);
    process.stderr.write('\nSIGINT: ending the storm; draining and checking (Ctrl-C again to quit at once, leaving namespaces behind)\n');
    stop.abort();
  });
  process.on('SIGTERM', () => stop.abort());
  const started = new Date();
  console.error(`soak:standalone: ${Math.round(parsed.durationMs / 1000)} s storm, plugin ${join(PLUGIN_DIR, 'tidepool')}`);
  const result = await runStandaloneStorm({
    durationMs: parsed.durationMs,
    seed: parsed.seed,
    workers: parsed.workers,
    poolSize: parsed.poolSize,
    lostDelRatio: parsed.lostDelRatio,
    killEveryMs: parsed.killEveryMs,
    gcIntervalMs: parsed.gcIntervalMs,
    gcGraceMs: parsed.gcGraceMs,
    signal: stop.signal,
    progress: (line) => console.error(line),
  });
  console.log(result.summary());
  if (result.violations.some((v) => v.oracle === 'agent-exit')) console.log(agentLogTail(result));
  console.log(`the same random choices again: --seed ${result.seed} with the same flags`);
  if (parsed.jsonFile) {
    writeFileSync(parsed.jsonFile, JSON.stringify(toJson(result, started), null, 2) + '\n');
    console.error(`result written to ${parsed.jsonFile}`);
  }
  return result.violations.length === 0 ? 0 : 1;
}

function agentLogTail(r: StormResult): string {
  return r.agentLogs.map((l) => `--- agent #${l.n} (${l.end ?? 'running'}), last lines:\n${l.lines.slice(-20).join('\n')}`).join('\n');
}

function toJson(r: StormResult, started: Date) {
  return {
    startedAt: started.toISOString(),
    seed: r.seed,
    options: r.options,
    elapsedMs: Math.round(r.elapsedMs),
    stats: r.stats,
    addFailuresByReason: Object.fromEntries(r.addFailuresByReason),
    delFailuresByReason: Object.fromEntries(r.delFailuresByReason),
    downWindows: r.downWindows.map((w) => ({ from: Math.round(w.from), to: Math.round(w.to) })),
    leaks: r.leaks.map((l) => ({ ...l, goneAt: Math.round(l.goneAt), latencyMs: l.latencyMs === undefined ? null : Math.round(l.latencyMs), boundMs: Math.round(l.boundMs) })),
    violations: r.violations.map((v) => ({ ...v, at: Math.round(v.at) })),
    leftAtEnd: r.leftAtEnd,
  };
}

try {
  process.exitCode = await main();
} catch (err) {
  console.error(`\nsoak:standalone failed: ${err instanceof Error ? err.message : String(err)}`);
  process.exitCode = 1;
}
