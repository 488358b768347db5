/**
 * `npm start -- --hosts netns --chaos partition`, for real: the lock-service demo with every
 * node on its own network namespace; one node's link is cut (a black hole) and healed. The
 * quorum lock service must keep mutual exclusion throughout, the cut must be detected within
 * the ping bound, and every pair must reconnect after healing.
 */
import { execFileSync, spawn } from "node:child_process";
import { describe, expect, it } from "vitest";
import { netnsSkipReason } from "./rig.js";

const ROOT = new URL("../../", import.meta.url);
const FROM_SOURCE = ["--conditions=tsgrid-source", "--import", "./test/cluster/fixtures/register-ts.mjs"];

const skip = netnsSkipReason();

function demo(args: string[], timeoutMs: number): Promise<{ code: number | null; stdout: string; stderr: string; pid: number }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...FROM_SOURCE, "examples/lock-service/main.ts", ...args], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => (stdout += d));
    child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
    const timer = setTimeout(() => {
      child.kill("SIGINT"); // the orchestrator kills its nodes and deletes its namespaces on SIGINT
      reject(new Error(`demo did not finish within ${timeoutMs} ms:\n${stdout}\n${stderr}`));
    }, timeoutMs);
    child.on("exit", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr, pid: child.pid! });
    });
  });
}

describe.skipIf(skip !== undefined)("npm start -- --hosts netns --chaos partition", () => {
  it("keeps mutual exclusion through a partition, reports detection and reconnect, and leaves no namespace behind", async () => {
    const { code, stdout, stderr, pid } = await demo(["--hosts", "netns", "--nodes", "3", "--duration", "8", "--chaos", "partition"], 110_000);
    expect(code, `${stdout}\n${stderr}`).toBe(0);
    expect(stdout).toMatch(/each on its own network namespace/);
    expect(stdout, stdout).toMatch(/^result: OK$/m);
    expect(stdout).toMatch(/mutual exclusion:  [1-9][\d,]* critical sections checked, 0 overlapping/);
    expect(stdout).toMatch(/unexpected errors: 0/);
    expect(stdout).toMatch(/node3 partitioned \(link down, no RST: a black hole\) at/);
    const detection = /every other node saw its link drop ([\d.]+) s after the cut/.exec(stdout);
    expect(detection, stdout).not.toBeNull();
    // Ping timeout 1 s + one 250 ms check, with slack for a loaded machine.
    expect(Number(detection![1])).toBeLessThanOrEqual(2.0);
    expect(stdout).toMatch(/quorum held: [1-9][\d,]* locks taken by the other nodes while it was cut off/);
    const reconnect = /every node was connected to it again ([\d.]+) s after it was healed/.exec(stdout);
    expect(reconnect, stdout).not.toBeNull();
    // Dial timeout 1 s + backoff ≤ 0.5 s, with slack.
    expect(Number(reconnect![1])).toBeLessThanOrEqual(2.5);
    const failFast = /calls to node3 failed fast with DisconnectedError \(p50 [\d.]+ ms, max ([\d.]+) ms\)/.exec(stdout);
    expect(failFast, stdout).not.toBeNull();
    expect(Number(failFast![1])).toBeLessThanOrEqual(2_000);
    expect(stdout).toMatch(/^result: OK$/m);
    console.log(stdout.slice(stdout.indexOf("chaos: node3 partitioned")).trim());
    // Nothing left behind.
    const left = execFileSync("ip", ["netns", "list"], { encoding: "utf8" });
    expect(left).not.toContain(`tsgrid-${pid}-`);
  }, 120_000);
});

describe("npm start -- --chaos partition (flags)", () => {
  it("refuses a partition without namespaced hosts", async () => {
    const { code, stderr } = await demo(["--chaos", "partition"], 60_000);
    expect(code).not.toBe(0);
    expect(stderr).toContain("--chaos partition needs --hosts netns");
  }, 70_000);
});
