/**
 * Runs the `npm start` demo for real: an orchestrator process and one child process per node,
 * from the TypeScript sources (through the test TS loader, so no build is needed).
 */
import { spawn } from "node:child_process";
import { describe, expect, it } from "vitest";

const ROOT = new URL("../../", import.meta.url);
const FROM_SOURCE = ["--conditions=tsgrid-source", "--import", "./test/cluster/fixtures/register-ts.mjs"];

function demo(args: string[], timeoutMs: number): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...FROM_SOURCE, "examples/lock-service/main.ts", ...args], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => (stdout += d));
    child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
    const timer = setTimeout(() => {
      child.kill("SIGINT"); // the orchestrator kills its nodes on SIGINT
      reject(new Error(`demo did not finish within ${timeoutMs} ms:\n${stdout}\n${stderr}`));
    }, timeoutMs);
    child.on("exit", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

describe("examples/lock-service (npm start)", () => {
  it("runs a 3-node cluster, survives a SIGKILLed node, reports the reconnect and exits 0", async () => {
    const { code, stdout, stderr } = await demo(["--nodes", "3", "--duration", "5", "--chaos"], 100_000);
    expect(code, `${stdout}\n${stderr}`).toBe(0);
    expect(stdout).toMatch(/all 3 nodes connected to each other/);
    expect(stdout).toMatch(/^metrics \(Prometheus\): (http:\/\/127\.0\.0\.1:\d+\/metrics ?){3}$/m);
    // Every handler form was used across the pairs, with no unexpected error.
    for (const handler of ["lock", "unlock", "rLock", "rUnlock", "refresh", "forceUnlock", "lockEvents", "refreshMany"]) {
      expect(stdout).toMatch(new RegExp(`^${handler}\\s+(single|stream|bidi)\\s+[1-9]`, "m"));
    }
    expect(stdout).toMatch(/lockEvents in [1-9]/);
    expect(stdout).toMatch(/refreshMany results in [1-9]/);
    expect(stdout).toMatch(/unexpected errors: 0/);
    expect(stdout).toMatch(/mutual exclusion:  [1-9][\d,]* critical sections checked, 0 overlapping/);
    expect(stdout).toMatch(/node3 killed with SIGKILL at/);
    expect(stdout).toMatch(/[1-9][\d,]* calls to node3 failed fast with DisconnectedError \(p50 \d+\.\d+ ms/);
    expect(stdout).toMatch(/quorum held: [1-9][\d,]* locks taken by the other nodes while it was down/);
    expect(stdout).toMatch(/every node was connected to it again [\d.]+ s after it was listening/);
    expect(stdout).toMatch(/^result: OK$/m);
  }, 120_000);

  it("--chaos rolling: every node drained and restarted in turn; nothing fails but with DrainingError, nothing is lost, exclusion holds", async () => {
    const { code, stdout, stderr } = await demo(["--chaos", "rolling"], 150_000);
    expect(code, `${stdout}\n${stderr}`).toBe(0);
    expect(stdout).toMatch(/running for 13 s \(chaos: every node will be drained and restarted in turn\)/);
    for (const node of ["node1", "node2", "node3"]) {
      expect(stdout).toMatch(new RegExp(`^  ${node}: drain from [\\d.]+ s took [\\d,]+ ms; restarted and connected to all again [\\d,]+ ms later$`, "m"));
    }
    expect(stdout).toMatch(/calls failed because of the restarts: [1-9][\d,]* with DrainingError \(retry elsewhere; .*\), 0 with anything else/);
    expect(stdout).toMatch(/lost messages:     0 /);
    expect(stdout).toMatch(/mutual exclusion:  [1-9][\d,]* critical sections checked, 0 overlapping/);
    expect(stdout).toMatch(/unexpected errors: 0/);
    expect(stdout).not.toMatch(/DisconnectedError/);
    expect(stdout).toMatch(/^result: OK$/m);
  }, 160_000);

  it("--help describes the flags; a bad flag exits non-zero", async () => {
    const help = await demo(["--help"], 60_000);
    expect(help.code).toBe(0);
    for (const flag of ["--nodes", "--duration", "--base-port", "--chaos", "--hosts", "--metrics-port", "--help"]) expect(help.stdout).toContain(flag);
    const bad = await demo(["--nodes", "1"], 60_000);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toContain("--nodes must be an integer from 2 to 16");
  }, 120_000);
});
