/**
 * The rig itself: hosts reach each other and nothing else (no route out of 198.18.0.0/24),
 * faults do what they say (checked with plain TCP), and nothing is left behind: destroy
 * deletes every namespace, and a crashed run's namespaces are swept by the next.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { afterAll, describe, expect, it } from "vitest";
import { NetnsHosts, sweepStaleNamespaces } from "../../examples/lock-service/netns-hosts.js";
import { netnsSkipReason } from "./rig.js";

const skip = netnsSkipReason();
if (skip !== undefined) console.log(skip);

const namespaces = (): string[] =>
  execFileSync("ip", ["netns", "list"], { encoding: "utf8" })
    .split("\n")
    .map((l) => l.split(" ")[0] ?? "")
    .filter((n) => n !== "");

/** Tries a TCP connection from host `from` to `address:port` (node inside the namespace); says how it ended. */
function tcpFrom(rig: NetnsHosts, from: number, address: string, port: number, timeoutMs: number): string {
  const js = `const s=require("net").connect(${port},"${address}");s.on("connect",()=>{console.log("connected");process.exit(0)});s.on("error",e=>{console.log(e.code);process.exit(0)});setTimeout(()=>{console.log("timeout");process.exit(0)},${timeoutMs})`;
  const r = spawnSync("ip", ["netns", "exec", rig.host(from).ns, process.execPath, "-e", js], { encoding: "utf8", timeout: timeoutMs + 5_000 });
  return r.stdout.trim();
}

/** Host `to` listens for a datagram while host `from` sends a few: "received" or "nothing". */
async function udpFrom(rig: NetnsHosts, from: number, to: number): Promise<string> {
  const address = rig.host(to).address;
  const listener = `const s=require("dgram").createSocket("udp4");s.on("message",()=>{console.log("received");process.exit(0)});s.bind(7001,"${address}",()=>console.log("bound"));setTimeout(()=>{console.log("nothing");process.exit(0)},4000)`;
  const child = rig.spawnIn(to, process.execPath, ["-e", listener], { stdio: ["ignore", "pipe", "ignore"] });
  let out = "";
  child.stdout!.setEncoding("utf8").on("data", (d: string) => (out += d));
  const wait = async (re: RegExp, ms: number): Promise<void> => {
    const deadline = Date.now() + ms;
    while (!re.test(out) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  };
  try {
    await wait(/bound/, 3_000);
    // Host `from` already knows host `to`'s MAC (from the TCP checks before).
    const sender = `const s=require("dgram").createSocket("udp4");let n=0;const t=setInterval(()=>{s.send("x",7001,"${address}");if(++n===10){clearInterval(t);s.close()}},100)`;
    spawnSync("ip", ["netns", "exec", rig.host(from).ns, process.execPath, "-e", sender], { timeout: 5_000 });
    await wait(/received|nothing/, 4_000);
    return /received/.test(out) ? "received" : "nothing";
  } finally {
    child.kill("SIGKILL");
  }
}

describe.skipIf(skip !== undefined)("the network-namespace rig", () => {
  const rig = skip === undefined ? NetnsHosts.create(2) : undefined;
  afterAll(() => rig?.destroy());

  it("hosts have one route, their own /24 on the switch: nothing is routed outside", () => {
    for (const h of rig!.hosts) {
      const routes = execFileSync("ip", ["-n", h.ns, "-4", "route", "show"], { encoding: "utf8" }).trim().split("\n");
      expect(routes).toHaveLength(1);
      expect(routes[0]).toMatch(/^198\.18\.0\.0\/24 dev eth0 /);
    }
    expect(tcpFrom(rig!, 0, "192.0.2.1", 80, 1_000)).toBe("ENETUNREACH");
  });

  it("a partition is a black hole (no RST: the connect times out); healing restores it; one-way drops only inbound", () => {
    const server = rig!.spawnIn(1, process.execPath, ["-e", `require("net").createServer(s=>s.end()).listen(7000,"${rig!.host(1).address}",()=>console.log("up"))`], { stdio: ["ignore", "pipe", "inherit"] });
    return new Promise<void>((resolve, reject) => {
      server.stdout!.once("data", async () => {
        try {
          const target = rig!.host(1).address;
          expect(tcpFrom(rig!, 0, target, 7000, 2_000)).toBe("connected");
          rig!.partition(1);
          expect(tcpFrom(rig!, 0, target, 7000, 1_500)).toBe("timeout");
          rig!.heal(1);
          expect(tcpFrom(rig!, 0, target, 7000, 3_000)).toBe("connected");
          // One-way: frames to host 1 vanish (a connect to it times out), while host 1's own
          // datagrams still reach host 0.
          rig!.oneWay(1);
          expect(tcpFrom(rig!, 0, target, 7000, 1_500)).toBe("timeout");
          expect(await udpFrom(rig!, 1, 0)).toBe("received");
          rig!.heal(1);
          expect(tcpFrom(rig!, 0, target, 7000, 3_000)).toBe("connected");
          server.kill("SIGKILL");
          resolve();
        } catch (err) {
          server.kill("SIGKILL");
          reject(err as Error);
        }
      });
    });
  }, 30_000);

  it("destroy deletes every namespace it made; a dead run's namespaces are swept", () => {
    const other = NetnsHosts.create(1);
    const made = [other.switchNs, ...other.hosts.map((h) => h.ns)];
    for (const ns of made) expect(namespaces()).toContain(ns);
    other.destroy();
    for (const ns of made) expect(namespaces()).not.toContain(ns);

    // A namespace named after a process that no longer exists, as a crashed run leaves it.
    const dead = spawnSync(process.execPath, ["-e", "0"]).pid;
    const stale = `tsgrid-${dead}-dead-h1`;
    execFileSync("ip", ["netns", "add", stale]);
    expect(sweepStaleNamespaces()).toContain(stale);
    expect(namespaces()).not.toContain(stale);
    // Ours (this process is alive) are kept.
    expect(namespaces()).toContain(rig!.switchNs);
  });
});
