/**
 * Summarises `.cpuprofile` files (from `npm run bench -- --profile`): self time per function
 * and per file, so a profile can be read without DevTools.
 *
 *   node dist/bench/profile.js bench/results/profiles/tsgrid.bidi.b32.server.cpuprofile [--top 25]
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

export function summarise(path: string, top: number): string {
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
  const pct = (us: number): string => `${((us / total) * 100).toFixed(1).padStart(5)}%`;
  const lines = [`${path}: ${(total / 1000).toFixed(0)} ms profiled`, "", "self time by function:"];
  for (const [k, v] of [...fn].sort((a, b) => b[1] - a[1]).slice(0, top)) lines.push(`  ${pct(v)}  ${k}`);
  lines.push("", "self time by file:");
  for (const [k, v] of [...file].sort((a, b) => b[1] - a[1]).slice(0, top)) lines.push(`  ${pct(v)}  ${k}`);
  return lines.join("\n");
}

const args = process.argv.slice(2);
const topIdx = args.indexOf("--top");
const top = topIdx >= 0 ? Number(args[topIdx + 1]) : 25;
for (const path of args.filter((a, i) => !a.startsWith("--") && (topIdx < 0 || i !== topIdx + 1))) {
  console.log(summarise(path, top));
  console.log("");
}
