/**
 * The default logger writes to standard error at every level: a program piping its own
 * output (JSON, a CLI's answer) must never find tsgrid's lines in it.
 */
import { afterEach, describe, expect, it, vi } from "vitest";
import { consoleLogger } from "../../runtime/logger.js";

describe("consoleLogger", () => {
  afterEach(() => vi.restoreAllMocks());

  it("writes every level to stderr and nothing to stdout", () => {
    const out = vi.spyOn(process.stdout, "write").mockImplementation(() => true);
    const err = vi.spyOn(process.stderr, "write").mockImplementation(() => true);
    const logger = consoleLogger({ level: "debug" });
    logger.debug("d", { n: 1 });
    logger.info("connected", { peer: "ws://b" });
    logger.warn("w");
    logger.error("e");
    const stdoutWrites = out.mock.calls.length;
    const lines = err.mock.calls.map((c) => String(c[0]));
    vi.restoreAllMocks();
    expect(stdoutWrites).toBe(0);
    expect(lines).toEqual([
      "tsgrid debug d n=1\n",
      'tsgrid info connected peer="ws://b"\n',
      "tsgrid warn w\n",
      "tsgrid error e\n",
    ]);
  });

  it("writes to the stream it is given", () => {
    const lines: string[] = [];
    const logger = consoleLogger({ level: "info", prefix: "x", stream: { write: (l: string) => lines.push(l) } });
    logger.debug("dropped");
    logger.info("kept", { token: "s3cret" });
    expect(lines).toEqual(["x info kept token=[redacted]\n"]);
  });
});
