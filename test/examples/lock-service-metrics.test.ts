/**
 * The demo's Prometheus endpoint, scraped for real: two lock-service node processes (from the
 * TypeScript sources) run the workload against each other, then each one's /metrics is read
 * over HTTP and its tsgrid series are checked.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { afterEach, describe, expect, it } from "vitest";
import type { NodeMessage, OrchestratorMessage } from "../../examples/lock-service/ipc.js";
import { freePorts } from "../cluster/helpers.js";
import { find, parseProm, sample } from "../integrations/prom-text.js";

const ROOT = new URL("../../", import.meta.url);
const FROM_SOURCE = ["--conditions=tsgrid-source", "--import", "./test/cluster/fixtures/register-ts.mjs"];
const children: ChildProcess[] = [];

afterEach(() => {
  for (const c of children.splice(0)) if (c.exitCode === null) c.kill("SIGKILL");
});

function node(index: number, hosts: string[], metricsPort: number) {
  const child = spawn(process.execPath, [...FROM_SOURCE, "examples/lock-service/node.ts", "--index", String(index), "--hosts", hosts.join(","), "--metrics-port", String(metricsPort)], {
    cwd: ROOT,
    stdio: ["ignore", "pipe", "pipe", "ipc"],
    env: { ...process.env, TSGRID_SECRET: "metrics-test-secret" },
  });
  children.push(child);
  let output = "";
  child.stdout!.setEncoding("utf8").on("data", (d: string) => (output += d));
  child.stderr!.setEncoding("utf8").on("data", (d: string) => (output += d));
  const when = (type: NodeMessage["type"], ms: number): Promise<void> =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`node${index + 1}: no "${type}" in ${ms} ms\n${output}`)), ms);
      const onMessage = (msg: NodeMessage): void => {
        if (msg.type !== type) return;
        clearTimeout(timer);
        child.off("message", onMessage);
        resolve();
      };
      child.on("message", onMessage);
    });
  const send = (msg: OrchestratorMessage): void => void child.send(msg);
  const exited = new Promise<number | null>((resolve) => child.once("exit", resolve));
  return { child, when, send, exited };
}

async function scrape(port: number): Promise<{ contentType: string | null; text: string }> {
  const res = await fetch(`http://127.0.0.1:${port}/metrics`);
  expect(res.status).toBe(200);
  return { contentType: res.headers.get("content-type"), text: await res.text() };
}

describe("examples/lock-service: /metrics on each node", () => {
  it("serves tsgrid's per-handler and per-peer series (and the process's) in the Prometheus text format", async () => {
    const [g1, g2, m1, m2] = await freePorts(4);
    const hosts = [g1, g2].map((p) => `ws://127.0.0.1:${p}/grid`);
    const metricsPorts = [m1!, m2!];
    const nodes = [node(0, hosts, m1!), node(1, hosts, m2!)];
    await Promise.all(nodes.map((n) => n.when("ready", 60_000)));
    const done = nodes.map((n) => n.when("done", 60_000));
    const until = Date.now() + 1_500;
    nodes.forEach((n) => n.send({ type: "start", until }));
    await Promise.all(done);

    for (const [i, port] of metricsPorts.entries()) {
      const { contentType, text } = await scrape(port);
      expect(contentType).toMatch(/^text\/plain; version=0\.0\.4/);
      const s = parseProm(text);
      const other = hosts[1 - i]!;
      // Per handler, by the names generated code registered; both sides on every node.
      expect(sample(s, "tsgrid_calls_total", { side: "client", handler: "Locker.lock", code: "ok" })).toBeGreaterThan(0);
      expect(sample(s, "tsgrid_calls_total", { side: "server", handler: "Locker.lock", code: "ok" })).toBeGreaterThan(0);
      expect(sample(s, "tsgrid_call_duration_seconds_count", { side: "client", handler: "Locker.lock" })).toBeGreaterThan(0);
      expect(find(s, "tsgrid_calls_in_flight", { side: "server" }).length).toBeGreaterThan(0);
      expect(sample(s, "tsgrid_stream_messages_total", { side: "server", handler: "Locker.lockEvents", direction: "sent" })).toBeGreaterThan(0);
      expect(sample(s, "tsgrid_payload_bytes_total", { side: "client", handler: "Locker.lock", direction: "sent" })).toBeGreaterThan(0);
      // No handler is known only by its number: every one was named by the generated code.
      expect(find(s, "tsgrid_calls_total").filter((x) => !/^Locker\.\w+$/.test(x.labels["handler"]!))).toEqual([]);
      // Per peer: the other node, connected, with an RTT.
      expect(sample(s, "tsgrid_peer_connected", { peer: other })).toBe(1);
      expect(sample(s, "tsgrid_peer_state", { peer: other, state: "connected" })).toBe(1);
      expect(sample(s, "tsgrid_peer_sent_bytes_total", { peer: other })).toBeGreaterThan(0);
      expect(find(s, "tsgrid_peer_queued_bytes", { peer: other })).toHaveLength(1);
      expect(find(s, "tsgrid_peer_streams_awaiting_credit", { peer: other })).toHaveLength(1);
      // prom-client's process metrics are there too.
      expect(find(s, "process_cpu_user_seconds_total")).toHaveLength(1);
    }
    const notFound = await fetch(`http://127.0.0.1:${m1}/other`);
    expect(notFound.status).toBe(404);

    nodes.forEach((n) => n.send({ type: "exit" }));
    expect(await Promise.all(nodes.map((n) => n.exited))).toEqual([0, 0]);
  }, 120_000);
});
