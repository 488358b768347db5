/**
 * Seeded fault schedules: which faults, on which nodes, when and for how long, all drawn
 * from the seed before the run starts. The schedule depends on nothing the run does, so a
 * seed always gives the same fault log.
 */
import type { Rng } from "./rng.js";

/** The faults a chaos run may pick. */
export type FaultKind =
  /** The nodes split into two groups that cannot talk to each other. */
  | "partition"
  /** One group's packets to another are lost; the other way passes. */
  | "partition-one-way"
  /** One link is reset: both ends see it close at once (a crash of one side's socket). */
  | "drop-link"
  /** One link goes silent for good, and nobody is told (a dead peer, a lost NAT entry). */
  | "blackhole-link"
  /** Delay and jitter on one link, both ways. */
  | "delay"
  /** A bandwidth limit on one link, both ways. */
  | "bandwidth"
  /** One node takes nothing in and sends nothing out for a while (a GC pause, SIGSTOP). */
  | "stall"
  /** One node's process dies (its links are reset) and restarts later as a new instance. */
  | "crash"
  /** One node's machine goes away (its links go silent) and comes back later, restarted. */
  | "power-off";

export const ALL_FAULTS: readonly FaultKind[] = Object.freeze([
  "partition",
  "partition-one-way",
  "drop-link",
  "blackhole-link",
  "delay",
  "bandwidth",
  "stall",
  "crash",
  "power-off",
]);

/** One fault of a schedule, with its targets (node names) and parameters. */
export interface PlannedFault {
  /** Start, ms after the chaos run began. */
  atMs: number;
  /** How long it lasts (0: instantaneous, e.g. a dropped link). */
  durationMs: number;
  kind: FaultKind;
  /** partition / partition-one-way: the groups (one-way: packets of groups[0] to groups[1] are lost). */
  groups?: string[][];
  /** Link faults: the two nodes; node faults: the one node. */
  nodes: string[];
  delayMs?: number;
  jitterMs?: number;
  bandwidthBytesPerSec?: number;
}

export interface ChaosPlanOptions {
  durationMs: number;
  faults: readonly FaultKind[];
  /** Pause between the starts of two faults, [min, max] ms. */
  gapMs: readonly [number, number];
  /** How long a fault lasts, [min, max] ms. */
  faultMs: readonly [number, number];
  /** Faults in force at once, at most. */
  maxConcurrent: number;
  /** Nodes down (crash, power-off) or stalled at once, at most. */
  maxDown: number;
}

const DELAY_MS: readonly [number, number] = [5, 300];
const BANDWIDTH: readonly [number, number] = [2_000, 500_000];

/** Draws a schedule from `rng`. Faults end by `durationMs`. */
export function planChaos(rng: Rng, nodes: readonly string[], options: ChaosPlanOptions): PlannedFault[] {
  if (nodes.length < 2) throw new RangeError("chaos needs at least two nodes");
  for (const kind of options.faults) if (!ALL_FAULTS.includes(kind)) throw new RangeError(`unknown fault kind ${JSON.stringify(kind)}`);
  const plan: PlannedFault[] = [];
  if (options.faults.length === 0) return plan; // a control run: the same workload, no faults
  /** End times of the faults in force, and of the nodes down. */
  const active: { end: number; down?: string }[] = [];
  let t = rng.int(options.gapMs[0], options.gapMs[1]);
  while (t < options.durationMs) {
    for (let i = active.length - 1; i >= 0; i--) if (active[i]!.end <= t) active.splice(i, 1);
    if (active.length < options.maxConcurrent) {
      const fault = drawFault(rng, nodes, options, t, active);
      if (fault !== undefined) {
        plan.push(fault);
        const down = fault.kind === "crash" || fault.kind === "power-off" || fault.kind === "stall" ? fault.nodes[0] : undefined;
        active.push({ end: fault.atMs + fault.durationMs, ...(down === undefined ? {} : { down }) });
      }
    }
    t += rng.int(options.gapMs[0], options.gapMs[1]);
  }
  return plan;
}

function drawFault(rng: Rng, nodes: readonly string[], options: ChaosPlanOptions, at: number, active: readonly { end: number; down?: string }[]): PlannedFault | undefined {
  const kind = rng.pick(options.faults);
  const durationMs = Math.min(rng.int(options.faultMs[0], options.faultMs[1]), options.durationMs - at);
  const pair = (): string[] => rng.shuffle(nodes).slice(0, 2);
  switch (kind) {
    case "partition":
    case "partition-one-way": {
      const shuffled = rng.shuffle(nodes);
      const cut = rng.int(1, nodes.length - 1);
      return { atMs: at, durationMs, kind, nodes: [], groups: [shuffled.slice(0, cut).sort(), shuffled.slice(cut).sort()] };
    }
    case "drop-link":
    case "blackhole-link":
      return { atMs: at, durationMs: 0, kind, nodes: pair() };
    case "delay": {
      const delayMs = rng.int(DELAY_MS[0], DELAY_MS[1]);
      return { atMs: at, durationMs, kind, nodes: pair(), delayMs, jitterMs: rng.int(0, delayMs) };
    }
    case "bandwidth":
      return { atMs: at, durationMs, kind, nodes: pair(), bandwidthBytesPerSec: rng.int(BANDWIDTH[0], BANDWIDTH[1]) };
    case "stall":
    case "crash":
    case "power-off": {
      const down = new Set(active.flatMap((a) => (a.down === undefined ? [] : [a.down])));
      if (down.size >= options.maxDown) return undefined;
      const candidates = nodes.filter((n) => !down.has(n));
      if (candidates.length === 0) return undefined;
      return { atMs: at, durationMs, kind, nodes: [rng.pick(candidates)] };
    }
  }
}

/** One line of a fault log: what happened to the cluster, and when. */
export interface FaultLogEntry {
  /** ms since the cluster started (simulated time in virtual mode). */
  atMs: number;
  /** What was done: "partition", "heal", "crash", "restart", ... */
  action: string;
  /** The targets and parameters, readable. */
  detail: string;
}

/** Names as the log shows them: the host part of the address. */
export function shortName(address: string): string {
  try {
    return new URL(address).host || address;
  } catch {
    return address;
  }
}

/** A fault's targets and parameters, for the log. */
export function describeFault(fault: PlannedFault): string {
  const names = (list: readonly string[]): string => list.map(shortName).join(",");
  switch (fault.kind) {
    case "partition":
      return `{${names(fault.groups![0]!)}} | {${names(fault.groups![1]!)}} for ${fault.durationMs} ms`;
    case "partition-one-way":
      return `{${names(fault.groups![0]!)}} -> {${names(fault.groups![1]!)}} lost for ${fault.durationMs} ms`;
    case "drop-link":
    case "blackhole-link":
      return `${names(fault.nodes)}`;
    case "delay":
      return `${names(fault.nodes)} +${fault.delayMs} ms ±${fault.jitterMs} ms for ${fault.durationMs} ms`;
    case "bandwidth":
      return `${names(fault.nodes)} ${fault.bandwidthBytesPerSec} B/s for ${fault.durationMs} ms`;
    case "stall":
    case "crash":
    case "power-off":
      return `${names(fault.nodes)} for ${fault.durationMs} ms`;
  }
}

/** A fault log as text, one line per entry. */
export function formatFaultLog(log: readonly FaultLogEntry[]): string {
  if (log.length === 0) return "  (no faults)";
  return log.map((e) => `  ${`+${Math.round(e.atMs)}ms`.padStart(9)}  ${e.action.padEnd(17)} ${e.detail}`).join("\n");
}
