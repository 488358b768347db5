import { describe, expect, it } from "vitest";
import { consoleLogger } from "../../runtime/logger.js";

function capture(): { lines: string[]; stream: { write(line: string): boolean } } {
  const lines: string[] = [];
  return { lines, stream: { write: (line: string) => lines.push(line) > 0 } };
}

describe("consoleLogger", () => {
  it("drops records below its level and formats fields", () => {
    const { lines, stream } = capture();
    const logger = consoleLogger({ level: "info", prefix: "t", stream });
    logger.debug("hidden");
    logger.info("hello", { peer: "ws://a/grid", n: 3, err: new Error("boom") });
    logger.error("bad");
    expect(lines).toEqual(['t info hello peer="ws://a/grid" n=3 err="boom"\n', "t error bad\n"]);
  });

  it("masks credential-like fields and survives unserialisable values", () => {
    const { lines, stream } = capture();
    const cyclic: Record<string, unknown> = {};
    cyclic["self"] = cyclic;
    consoleLogger({ level: "debug", stream }).warn("w", { token: "v1.abc", authToken: "x", secret: "s", cyclic });
    const line = lines[0]!;
    expect(line).not.toContain("v1.abc");
    expect(line).toContain("token=[redacted]");
    expect(line).toContain("authToken=[redacted]");
    expect(line).toContain("secret=[redacted]");
    expect(line).toContain("cyclic=[object Object]");
  });

  it("is silent at level silent", () => {
    const { lines, stream } = capture();
    consoleLogger({ level: "silent", stream }).error("nothing");
    consoleLogger({ level: "error", stream }).error("something");
    expect(lines).toEqual(["tsgrid error something\n"]);
  });
});
