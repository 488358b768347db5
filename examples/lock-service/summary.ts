/** The demo's live progress line and final summary, as plain strings (printed by main.ts). */
import { LatencyHistogram } from "./latency.js";
import type { MetricsSnapshot } from "./metrics.js";
import type { ExclusionReport } from "./mutual-exclusion.js";

/** What happened to the node hit by --chaos, as the orchestrator saw it (ms since start). */
export interface ChaosReport {
  node: string;
  /** kill: SIGKILL, then a new process. partition: its link cut (no RST), then healed. Default kill. */
  kind?: "kill" | "partition";
  /** When it was killed, or cut off. */
  killedAtMs: number;
  /** When every other node had seen its link drop (detection). */
  detectedAtMs?: number;
  /** kill: when its new process was started, and when it was listening again. partition: when the link was healed (both). */
  restartedAtMs?: number;
  listeningAtMs?: number;
  /** When every surviving node was connected to the restarted one again. */
  reconnectedAtMs?: number;
  /** Quorum locks the surviving nodes took while it was down. */
  locksWhileDown: number;
}

/** --chaos rolling: every node drained and restarted in turn, as the orchestrator saw it (ms since start). */
export interface RollingReport {
  restarts: { node: string; drainStartedAtMs: number; drainMs: number; downMs: number }[];
}

export interface SummaryInput {
  rolling?: RollingReport;
  nodes: number;
  elapsedMs: number;
  metrics: MetricsSnapshot;
  chaos?: ChaosReport;
  /** The mutual-exclusion check of every critical section the nodes reported. */
  exclusion?: ExclusionReport;
  /** Under a partition: the metrics of every node but the cut-off one (whose calls all fail). */
  othersMetrics?: MetricsSnapshot;
}

/** The handlers of the lock schema, in display order, with their form. */
const HANDLERS: readonly (readonly [string, string])[] = [
  ["lock", "single"],
  ["unlock", "single"],
  ["rLock", "single"],
  ["rUnlock", "single"],
  ["refresh", "single"],
  ["forceUnlock", "single"],
  ["lockEvents", "stream"],
  ["refreshMany", "bidi"],
];

export function formatProgress(elapsedMs: number, durationMs: number, up: number, nodes: number, m: MetricsSnapshot): string {
  const calls = Object.values(m.calls).reduce((n, c) => n + c.calls, 0);
  const messages = Object.values(m.streamMessages).reduce((n, c) => n + c, 0);
  const down = Object.values(m.disconnected).reduce((n, d) => n + d.count, 0);
  return (
    `[${(elapsedMs / 1000).toFixed(1).padStart(5)}s/${(durationMs / 1000).toFixed(0)}s] ` +
    `nodes up ${up}/${nodes} · locks ${fmt(m.locks.acquired)} · calls ${fmt(calls)} · ` +
    `stream msgs ${fmt(messages)} · fail-fast ${fmt(down)} · errors ${fmt(m.unexpected.count)}`
  );
}

/** True when the run proves what it should: no unexpected error, and chaos fully recovered. */
export function verdict(input: SummaryInput): { ok: boolean; problems: string[] } {
  const { metrics: m, chaos } = input;
  const problems: string[] = [];
  if (m.unexpected.count > 0) problems.push(`${m.unexpected.count} unexpected errors`);
  if (m.locks.acquired === 0) problems.push("no lock was acquired");
  // A restarted node has forgotten its locks (dsync keeps them in memory only), so under
  // --chaos kill an overlap is possible in theory; otherwise there must be none (a
  // partitioned node forgets nothing; a drained node grants nothing until its locks expired).
  const forgetful = chaos !== undefined && (chaos.kind ?? "kill") === "kill";
  if (input.exclusion && input.exclusion.overlapCount > 0 && !forgetful) problems.push(`${input.exclusion.overlapCount} overlapping critical sections`);
  // Under a partition the cut-off node's own calls fail too: only the others' count here.
  const judged = chaos?.kind === "partition" && input.othersMetrics ? input.othersMetrics : m;
  for (const [peer, d] of Object.entries(judged.disconnected)) {
    if (input.rolling || !chaos || peer !== chaos.node) problems.push(`${d.count} calls to ${peer} failed with DisconnectedError`);
  }
  const drained = Object.values(m.drained ?? {}).reduce((n, c) => n + c, 0);
  if (input.rolling) {
    if (input.rolling.restarts.length < input.nodes) problems.push(`only ${input.rolling.restarts.length} of ${input.nodes} nodes were drained and restarted`);
    if (input.exclusion && input.exclusion.overlapCount > 0) problems.push(`${input.exclusion.overlapCount} overlapping critical sections`);
    if ((m.lostMessages ?? 0) > 0) problems.push(`${m.lostMessages} stream messages lost`);
  } else if (drained > 0) problems.push(`${drained} calls failed with DrainingError`);
  if (chaos) {
    if (chaos.kind === "partition" && chaos.detectedAtMs === undefined) problems.push(`the partition of ${chaos.node} was not detected`);
    if (chaos.restartedAtMs === undefined) problems.push(`${chaos.node} was not ${chaos.kind === "partition" ? "healed" : "restarted"}`);
    else if (chaos.reconnectedAtMs === undefined) problems.push(`${chaos.node} was not reconnected`);
    if (chaos.locksWhileDown === 0) problems.push(`no quorum lock was taken while ${chaos.node} was down`);
  }
  return { ok: problems.length === 0, problems };
}

export function formatSummary(input: SummaryInput): string {
  const { metrics: m, chaos } = input;
  const lines: string[] = [];
  lines.push(`tsgrid lock service: ${input.nodes} nodes, ${(input.elapsedMs / 1000).toFixed(1)} s, shared-secret auth${chaos ? ", chaos" : ""}${input.rolling ? ", rolling restart" : ""}`);
  lines.push("");
  lines.push(row("handler", "form", "calls", "failed", "p50 ms", "p99 ms", "served"));
  for (const [name, form] of HANDLERS) {
    const c = m.calls[name];
    const served = m.served[name] ?? 0;
    if (!c && served === 0) continue;
    const h = c ? LatencyHistogram.from(c.latency) : undefined;
    const timed = h && h.count > 0 && form === "single";
    lines.push(
      row(name, form, fmt(c?.calls ?? 0), fmt(c?.errors ?? 0), timed ? ms(h.quantile(0.5)) : "-", timed ? ms(h.quantile(0.99)) : "-", fmt(served)),
    );
  }
  lines.push("");
  const streams = Object.entries(m.streamMessages)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([k, v]) => `${k} ${fmt(v)}`);
  lines.push(`stream messages:   ${streams.join(" · ") || "none"}`);
  if (m.eventGaps) lines.push(`                   ${fmt(m.eventGaps)} events skipped by a slow subscriber: its peer kept a bounded buffer, dropped the oldest, never waited`);
  lines.push(`quorum locks:      ${fmt(m.locks.acquired)} acquired · ${fmt(m.locks.busy)} busy (held elsewhere, retried later) · ${fmt(m.locks.lost)} lost`);
  const ex = input.exclusion;
  if (ex) {
    lines.push(`mutual exclusion:  ${fmt(ex.checked)} critical sections checked, ${fmt(ex.overlapCount)} overlapping`);
    for (const [a, b] of ex.overlaps) {
      lines.push(`  ${a.resource}: ${a.owner} (${a.write ? "write" : "read"}) and ${b.owner} (${b.write ? "write" : "read"}) held it together for ${ms(Math.min(a.end, b.end) - b.start)} ms`);
    }
    if (ex.overlapCount > 0 && chaos) lines.push("  (the restarted node had forgotten its locks: dsync keeps them in memory only)");
  }
  if (input.rolling) {
    const lost = m.lostMessages ?? 0;
    lines.push(`lost messages:     ${fmt(lost)}${lost === 0 ? " (in every refreshMany stream that ended, each request got its result; lock events end with an in-band EOF)" : ""}`);
  }
  lines.push(`unexpected errors: ${fmt(m.unexpected.count)}${m.unexpected.samples.length ? ` (${m.unexpected.samples.join("; ")})` : ""}`);
  if (chaos) {
    lines.push("");
    const at = (t: number | undefined): string => (t === undefined ? "never" : `${(t / 1000).toFixed(1)} s`);
    const partition = chaos.kind === "partition";
    lines.push(
      partition
        ? `chaos: ${chaos.node} partitioned (link down, no RST: a black hole) at ${at(chaos.killedAtMs)}, healed at ${at(chaos.restartedAtMs)}`
        : `chaos: ${chaos.node} killed with SIGKILL at ${at(chaos.killedAtMs)}, restarted at ${at(chaos.restartedAtMs)}, listening again at ${at(chaos.listeningAtMs)}`,
    );
    if (chaos.detectedAtMs !== undefined) {
      lines.push(`  detection: every other node saw its link drop ${((chaos.detectedAtMs - chaos.killedAtMs) / 1000).toFixed(2)} s after the ${partition ? "cut" : "kill"}`);
    } else if (partition) {
      lines.push("  detection: the cut was NOT detected by every node");
    }
    const d = m.disconnected[chaos.node];
    if (d) {
      const h = LatencyHistogram.from(d.latency);
      lines.push(`  ${fmt(d.count)} calls to ${chaos.node} failed fast with DisconnectedError (p50 ${ms(h.quantile(0.5))} ms, max ${ms(h.maxMs)} ms)`);
    }
    lines.push(`  quorum held: ${fmt(chaos.locksWhileDown)} locks taken by the other nodes while it was ${partition ? "cut off" : "down"}`);
    const back = chaos.listeningAtMs ?? chaos.restartedAtMs;
    if (chaos.reconnectedAtMs !== undefined && back !== undefined) {
      lines.push(`  every node was connected to it again ${((chaos.reconnectedAtMs - back) / 1000).toFixed(2)} s after it was ${partition ? "healed" : "listening"}`);
    } else {
      lines.push("  it was NOT reconnected");
    }
  }
  if (input.rolling) {
    lines.push("");
    lines.push(`rolling restart: every node drained (manager.drain) and restarted in turn, while the workload ran`);
    for (const r of input.rolling.restarts) {
      lines.push(`  ${r.node}: drain from ${(r.drainStartedAtMs / 1000).toFixed(1)} s took ${fmt(r.drainMs)} ms; restarted and connected to all again ${fmt(r.downMs)} ms later`);
    }
    const drainedBy = Object.entries(m.drained ?? {}).sort(([a], [b]) => a.localeCompare(b));
    const drainedTotal = drainedBy.reduce((n, [, c]) => n + c, 0);
    const cut = Object.values(m.disconnected).reduce((n, d) => n + d.count, 0);
    lines.push(
      `  calls failed because of the restarts: ${fmt(drainedTotal)} with DrainingError (retry elsewhere; ${drainedBy.map(([p, c]) => `${p} ${fmt(c)}`).join(", ") || "none"}), ${fmt(cut)} with anything else`,
    );
  }
  const v = verdict(input);
  lines.push("");
  lines.push(v.ok ? "result: OK" : `result: FAILED (${v.problems.join("; ")})`);
  return lines.join("\n");
}

function row(...cells: string[]): string {
  const widths = [13, 7, 9, 7, 8, 8, 9];
  return cells.map((c, i) => (i < 2 ? c.padEnd(widths[i] ?? 8) : c.padStart(widths[i] ?? 8))).join(" ");
}

function fmt(n: number): string {
  return n.toLocaleString("en-US");
}

function ms(v: number): string {
  return v < 10 ? v.toFixed(2) : v.toFixed(1);
}
