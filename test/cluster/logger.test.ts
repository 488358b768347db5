import { afterEach, describe, expect, it, vi } from "vitest";
import { consoleLogger } from "../../runtime/logger.js";

afterEach(() => {
  vi.restoreAllMocks();
});

describe("consoleLogger", () => {
  it("drops records below its level and formats fields", () => {
    const info = vi.spyOn(console, "info").mockImplementation(() => {});
    const debug = vi.spyOn(console, "debug").mockImplementation(() => {});
    const error = vi.spyOn(console, "error").mockImplementation(() => {});
    const logger = consoleLogger({ level: "info", prefix: "t" });
    logger.debug("hidden");
    logger.info("hello", { peer: "ws://a/grid", n: 3, err: new Error("boom") });
    logger.error("bad");
    expect(debug).not.toHaveBeenCalled();
    expect(info).toHaveBeenCalledWith('t info hello peer="ws://a/grid" n=3 err="boom"');
    expect(error).toHaveBeenCalledWith("t error bad");
  });

  it("masks credential-like fields and survives unserialisable values", () => {
    const warn = vi.spyOn(console, "warn").mockImplementation(() => {});
    const cyclic: Record<string, unknown> = {};
    cyclic["self"] = cyclic;
    consoleLogger({ level: "debug" }).warn("w", { token: "v1.abc", authToken: "x", secret: "s", cyclic });
    const line = String(warn.mock.calls[0]![0]);
    expect(line).not.toContain("v1.abc");
    expect(line).toContain("token=[redacted]");
    expect(line).toContain("authToken=[redacted]");
    expect(line).toContain("secret=[redacted]");
    expect(line).toContain("cyclic=[object Object]");
  });

  it("is silent at level silent", () => {
    const error = vi.spyOn(console, "error").mockImplementation(() => {});
    consoleLogger({ level: "silent" }).error("nothing");
    expect(error).not.toHaveBeenCalled();
  });
});
