/** examples/operations/telemetry.ts, quoted by docs/observability.md: it runs and shows what the page says. */
import { describe, expect, it } from "vitest";
import { SpanKind } from "@opentelemetry/api";
import { describeTrace, main } from "../../examples/operations/telemetry.js";
import { parseProm, sample } from "../integrations/prom-text.js";

describe("examples/operations/telemetry.ts", () => {
  it("one trace across three servers, and each server's metrics count the calls", async () => {
    const run = await main();
    expect(new Set(run.spans.map((s) => s.spanContext().traceId)).size).toBe(1);
    expect(run.spans.map((s) => `${SpanKind[s.kind]} ${s.name}`).sort()).toEqual(
      ["CLIENT Back/echo", "CLIENT Front/echo", "SERVER Back/echo", "SERVER Front/echo"],
    );
    expect(describeTrace(run).sort()).toEqual(
      expect.arrayContaining([expect.stringMatching(/^server Back\/echo .* <- client Back\/echo$/), expect.stringMatching(/^client Back\/echo .* <- server Front\/echo$/)]),
    );
    const [first, second, third] = run.scrapes.map(parseProm) as [ReturnType<typeof parseProm>, ReturnType<typeof parseProm>, ReturnType<typeof parseProm>];
    expect(sample(first, "tsgrid_calls_total", { side: "client", handler: "Front.echo", code: "ok" })).toBe(1);
    expect(sample(second, "tsgrid_calls_total", { side: "server", handler: "Front.echo", code: "ok" })).toBe(1);
    expect(sample(second, "tsgrid_calls_total", { side: "client", handler: "Back.echo", code: "ok" })).toBe(1);
    expect(sample(third, "tsgrid_calls_total", { side: "server", handler: "Back.echo", code: "ok" })).toBe(1);
    expect(sample(second, "tsgrid_peer_connected", { peer: run.hosts[2]! })).toBe(1);
  });
});
