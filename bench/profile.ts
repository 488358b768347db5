/**
 * Summarises `.cpuprofile` files (from `npm run bench -- --profile`): self time per function
 * and per file, so a profile can be read without DevTools.
 *
 *   node dist/bench/profile.js bench/results/profiles/tsgrid.bidi.b32.server.cpuprofile [--top 25]
 *     [--inclusive runtime/]   also: inclusive time of the functions whose name or file matches
 */
import { readFileSync } from "node:fs";

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}
interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

function shortUrl(url: string): string {
  const i = url.indexOf("/dist/");
  if (i >= 0) return url.slice(i + 6);
  const j = url.indexOf("/node_modules/");
  if (j >= 0) return url.slice(j + 14);
  return url.replace(/^node:/, "node:") || "(native)";
}

export function summarise(path: string, top: number, filter?: string): string {
  const p = JSON.parse(readFileSync(path, "utf8")) as CpuProfile;
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const selfUs = new Map<number, number>();
  for (let i = 0; i < p.samples.length; i++) {
    const id = p.samples[i]!;
    selfUs.set(id, (selfUs.get(id) ?? 0) + (p.timeDeltas[i] ?? 0));
  }
  const total = p.endTime - p.startTime;
  const fn = new Map<string, number>();
  const file = new Map<string, number>();
  for (const [id, us] of selfUs) {
    const cf = byId.get(id)!.callFrame;
    const f = `${cf.functionName || "(anonymous)"} ${shortUrl(cf.url)}:${cf.lineNumber + 1}`;
    fn.set(f, (fn.get(f) ?? 0) + us);
    const u = cf.url === "" ? `(${cf.functionName})` : shortUrl(cf.url);
    file.set(u, (file.get(u) ?? 0) + us);
  }
  // Inclusive time: a node's self time plus its descendants' (per function, outermost frames only).
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const keyOf = (id: number): string => {
    const cf = byId.get(id)!.callFrame;
    return `${cf.functionName || "(anonymous)"} ${shortUrl(cf.url)}:${cf.lineNumber + 1}`;
  };
  const incl = new Map<string, number>();
  for (const [id, us] of selfUs) {
    const seen = new Set<string>();
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const k = keyOf(cur);
      if (seen.has(k)) continue;
      seen.add(k);
      incl.set(k, (incl.get(k) ?? 0) + us);
    }
  }
  const pct = (us: number): string => `${((us / total) * 100).toFixed(1).padStart(5)}%`;
  const lines = [`${path}: ${(total / 1000).toFixed(0)} ms profiled`, "", "self time by function:"];
  for (const [k, v] of [...fn].sort((a, b) => b[1] - a[1]).slice(0, top)) lines.push(`  ${pct(v)}  ${k}`);
  if (filter !== undefined) {
    lines.push("", `inclusive time of functions matching "${filter}":`);
    for (const [k, v] of [...incl].filter(([k]) => k.includes(filter)).sort((a, b) => b[1] - a[1]).slice(0, top)) lines.push(`  ${pct(v)}  ${k}`);
  }
  lines.push("", "self time by file:");
  for (const [k, v] of [...file].sort((a, b) => b[1] - a[1]).slice(0, top)) lines.push(`  ${pct(v)}  ${k}`);
  return lines.join("\n");
}

const args = process.argv.slice(2);
const flag = (name: string): string | undefined => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const top = Number(flag("--top") ?? 25);
const filter = flag("--inclusive");
const flagValues = new Set(["--top", "--inclusive"].map((f) => args.indexOf(f) + 1).filter((i) => i > 0));
for (const path of args.filter((a, i) => !a.startsWith("--") && !flagValues.has(i))) {
  console.log(summarise(path, top, filter));
  console.log("");
}
