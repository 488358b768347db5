/** A hand-written SVG bar chart of the run's ratios (log scale), with each target marked. */
import { fmtRatio } from "./markdown.js";
import type { Ratio } from "./ratios.js";

const esc = (s: string): string => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");

/** A line of the chart: a group's heading, or a ratio. */
type Line = { heading: string } | Ratio;

/** The targets grouped by where they come from (#12 first), then the ratios marked `chart`. */
export function chartLines(ratios: Ratio[]): Line[] {
  const lines: Line[] = [];
  const goals = [...new Set(ratios.filter((r) => r.target !== undefined).map((r) => r.goal ?? "targets"))];
  for (const goal of goals) {
    lines.push({ heading: goal.startsWith("#") ? `issue ${goal} targets` : `${goal} targets` });
    lines.push(...ratios.filter((r) => r.target !== undefined && (r.goal ?? "targets") === goal));
  }
  const context = ratios.filter((r) => r.target === undefined && r.chart === true);
  if (context.length > 0) lines.push({ heading: "defaults against tuned, and other context (no target)" }, ...context);
  return lines;
}

export function renderSvg(ratios: Ratio[], subtitle: string): string {
  const rows = chartLines(ratios);
  const labelW = 440;
  const plotW = 420;
  const rowH = 26;
  const top = 72;
  const width = labelW + plotW + 90;
  const height = top + rows.length * rowH + 40;
  const minLog = -1; // 0.1×
  const maxLog = 3; // 1000×
  const x = (v: number): number => {
    const l = Math.min(maxLog, Math.max(minLog, Math.log10(Math.max(v, 1e-6))));
    return labelW + ((l - minLog) / (maxLog - minLog)) * plotW;
  };
  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="system-ui, sans-serif" font-size="12">`);
  out.push(`<rect width="100%" height="100%" fill="#ffffff"/>`);
  out.push(`<text x="12" y="20" font-size="15" font-weight="bold">tsgrid vs references: ratios in one run (log scale)</text>`);
  // The subtitle (date, machine, run) on two lines, split at a separator near the middle.
  const parts = subtitle.split(" · ");
  const half = Math.ceil(parts.length / 2);
  out.push(`<text x="12" y="38" fill="#555">${esc(parts.slice(0, half).join(" · "))}</text>`);
  out.push(`<text x="12" y="54" fill="#555">${esc(parts.slice(half).join(" · "))}</text>`);
  for (const tick of [0.1, 0.5, 1, 2, 5, 10, 100, 1000]) {
    const tx = x(tick);
    out.push(`<line x1="${tx}" y1="${top - 6}" x2="${tx}" y2="${top + rows.length * rowH}" stroke="${tick === 1 ? "#888" : "#e3e3e3"}"/>`);
    out.push(`<text x="${tx}" y="${top + rows.length * rowH + 16}" text-anchor="middle" fill="#555">${tick}×</text>`);
  }
  rows.forEach((r, i) => {
    const y = top + i * rowH;
    if ("heading" in r) {
      out.push(`<text x="12" y="${y + 17}" font-weight="bold">${esc(r.heading)}</text>`);
      return;
    }
    out.push(`<text x="${labelW - 8}" y="${y + 16}" text-anchor="end">${esc(r.name)}</text>`);
    if (r.value !== undefined) {
      const color = r.pass === undefined ? "#8aa4c8" : r.pass ? "#3c9a5f" : "#d0534a";
      const x0 = x(0.1);
      out.push(`<rect x="${x0}" y="${y + 5}" width="${Math.max(1, x(r.value) - x0)}" height="${rowH - 10}" fill="${color}"/>`);
      out.push(`<text x="${Math.min(x(r.value), labelW + plotW) + 4}" y="${y + 16}">${fmtRatio(r.value)}</text>`);
    } else {
      out.push(`<text x="${x(0.1) + 4}" y="${y + 16}" fill="#b05a00">${esc(r.missing ?? "not measured")}</text>`);
    }
    if (r.target !== undefined) {
      const tx = x(r.target);
      out.push(`<line x1="${tx}" y1="${y + 2}" x2="${tx}" y2="${y + rowH - 2}" stroke="#222" stroke-width="2" stroke-dasharray="3,2"><title>target ${r.better === "higher" ? "≥" : "≤"} ${r.target}×</title></line>`);
    }
  });
  out.push(`<text x="12" y="${height - 8}" fill="#555">bar: measured ratio (green: target met, red: missed, blue: no target) · dashed: target (≤: lower is better) · orange: no value (row missing, failed or skipped)</text>`);
  out.push(`</svg>`);
  return out.join("\n") + "\n";
}
