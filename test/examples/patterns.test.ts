import { describe, expect, it } from "vitest";
import { main as errors } from "../../examples/patterns/errors.js";
import { main as deadlines } from "../../examples/patterns/deadlines.js";

describe("examples/patterns", () => {
  it("errors: remote failure, invalid payload, fast DisconnectedError", async () => {
    const out = await errors();
    expect(out[0]).toBe("RemoteError: disk full");
    expect(out[1]).toMatch(/^a peer sent data that does not match the schema: .*ms.*expected number/);
    expect(out[2]).toMatch(/^DisconnectedError after \d+\.\d ms$/);
    expect(Number(/after (\S+) ms/.exec(out[2]!)?.[1])).toBeLessThan(100);
    expect(out[3]).toBe("the peer is unreachable: try another one, or later");
  });

  it("deadlines and cancellation reach the server", async () => {
    const out = await deadlines();
    expect(out).toEqual([
      "gave up after 50 ms",
      "cancelled by the caller",
      "10%",
      "20%",
      "30%",
      expect.stringMatching(/^server: run stopped early: DeadlineExceededError/),
      expect.stringMatching(/^server: run stopped early: AbortError/),
      expect.stringMatching(/^server: follow cancelled: AbortError/),
    ]);
  });
});
