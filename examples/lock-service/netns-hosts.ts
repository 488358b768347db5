/**
 * "Hosts" on one Linux machine: each host is a network namespace with its own network stack
 * and one address in 198.18.0.0/24 (the benchmarking range, RFC 2544), joined through a veth
 * pair to a bridge that lives in a namespace of its own (the "switch"). Nothing is created in
 * the caller's namespace and no namespace has a route out, so no packet can leave the rig.
 *
 * Faults are cut at the switch, so that the hosts see what a real network does to them:
 * - `partition(i)`: host i's switch port goes down. Its packets vanish, others' packets to it
 *   vanish: no RST, no ICMP; a TCP connection just stops delivering (a true black hole).
 * - `oneWay(i)`: frames TO host i are steered to a dead port of the switch; host i still
 *   reaches everyone (others' packets to it vanish) for as long as its ARP entries live
 *   (seconds: the replies to its ARP probes are dropped too), which covers a test's cut.
 * - `heal(i)`: undoes both.
 * - `flap(i, periodMs, count)`: down/up every `periodMs`.
 * Processes run inside a host with `spawnIn` (`ip netns exec`), so SIGSTOP/SIGKILL reach the
 * Node.js process itself.
 *
 * Names carry the creating process's pid (`tsgrid-<pid>-<rand>-…`): `sweepStaleNamespaces`
 * deletes those of processes that no longer exist (a crashed earlier run).
 * Needs root and iproute2 (`ip`, `bridge`); `netnsSupport()` says whether and why not.
 */
import { execFileSync, spawn, type ChildProcess, type SpawnOptions } from "node:child_process";
import { randomBytes } from "node:crypto";

const PREFIX = "tsgrid-";
/** Addresses of the hosts: 198.18.0.11, .12, ... (never routed anywhere). */
export const NETNS_SUBNET = "198.18.0.0/24";
const FIRST_HOST_OCTET = 11;
const MAX_HOSTS = 32;

function ip(args: readonly string[]): string {
  return execFileSync("ip", args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], timeout: 10_000 });
}

function bridgeCmd(ns: string, args: readonly string[]): void {
  execFileSync("ip", ["netns", "exec", ns, "bridge", ...args], { stdio: ["ignore", "pipe", "pipe"], timeout: 10_000 });
}

let support: { ok: true } | { ok: false; why: string } | undefined;

/** Whether namespaces can be made here; when not, one line saying why. Probed once. */
export function netnsSupport(): { ok: true } | { ok: false; why: string } {
  if (support !== undefined) return support;
  if (process.platform !== "linux") return (support = { ok: false, why: `network namespaces need Linux (this is ${process.platform})` });
  if (typeof process.getuid === "function" && process.getuid() !== 0) {
    return (support = { ok: false, why: "network namespaces need root (ip netns add)" });
  }
  const probe = `${PREFIX}${process.pid}-probe`;
  try {
    ip(["netns", "add", probe]);
    ip(["-n", probe, "link", "add", "br0", "type", "bridge"]);
    execFileSync("ip", ["netns", "exec", probe, "bridge", "link", "show"], { stdio: "ignore", timeout: 10_000 });
    support = { ok: true };
  } catch (err) {
    const e = err as { code?: string; stderr?: Buffer | string; message: string };
    const detail = e.code === "ENOENT" ? "the ip command (iproute2) is not installed" : String(e.stderr ?? e.message).trim().split("\n")[0];
    support = { ok: false, why: `cannot create a network namespace with a bridge: ${detail}` };
  } finally {
    try {
      ip(["netns", "del", probe]);
    } catch {
      // not created
    }
  }
  return support;
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** Deletes rig namespaces left by processes that are gone. Returns their names. */
export function sweepStaleNamespaces(): string[] {
  let list: string;
  try {
    list = ip(["netns", "list"]);
  } catch {
    return [];
  }
  const stale: string[] = [];
  for (const line of list.split("\n")) {
    const name = line.split(" ")[0] ?? "";
    const m = /^tsgrid-(\d+)-/.exec(name);
    if (m === null || pidAlive(Number(m[1]))) continue;
    try {
      ip(["netns", "del", name]);
      stale.push(name);
    } catch {
      // already gone
    }
  }
  return stale;
}

export interface NetnsHost {
  /** 0-based. */
  index: number;
  /** Namespace name. */
  ns: string;
  /** IPv4 address, e.g. 198.18.0.11. */
  address: string;
  /** MAC address of its interface (for the one-way fault). */
  mac: string;
}

export class NetnsHosts {
  readonly hosts: readonly NetnsHost[];
  /** The switch's namespace (bridge br0, ports p0..pN-1, dead port "sink"). */
  readonly switchNs: string;
  private readonly children = new Set<ChildProcess>();
  private readonly flaps = new Set<NodeJS.Timeout>();
  private destroyed = false;
  private readonly onExit = (): void => this.destroy();

  private constructor(
    readonly runId: string,
    count: number,
  ) {
    this.switchNs = `${runId}-sw`;
    this.hosts = Array.from({ length: count }, (_, index) => ({
      index,
      ns: `${runId}-h${index + 1}`,
      address: `198.18.0.${FIRST_HOST_OCTET + index}`,
      mac: `02:18:00:00:00:${(FIRST_HOST_OCTET + index).toString(16).padStart(2, "0")}`,
    }));
  }

  /** Creates `count` hosts on one switch. Deletes everything made so far if a step fails. */
  static create(count: number): NetnsHosts {
    if (!Number.isInteger(count) || count < 1 || count > MAX_HOSTS) throw new RangeError(`host count must be 1..${MAX_HOSTS}`);
    const check = netnsSupport();
    if (!check.ok) throw new Error(check.why);
    sweepStaleNamespaces();
    const rig = new NetnsHosts(`${PREFIX}${process.pid}-${randomBytes(2).toString("hex")}`, count);
    process.once("exit", rig.onExit);
    try {
      const sw = rig.switchNs;
      ip(["netns", "add", sw]);
      ip(["-n", sw, "link", "set", "lo", "up"]);
      ip(["-n", sw, "link", "add", "br0", "type", "bridge", "stp_state", "0"]);
      // The dead port: a veth whose other end is down, so frames sent to it are dropped.
      ip(["-n", sw, "link", "add", "sink", "type", "veth", "peer", "name", "sinkpeer"]);
      ip(["-n", sw, "link", "set", "sink", "master", "br0"]);
      ip(["-n", sw, "link", "set", "sink", "up"]);
      ip(["-n", sw, "link", "set", "br0", "up"]);
      for (const h of rig.hosts) {
        ip(["netns", "add", h.ns]);
        ip(["-n", h.ns, "link", "set", "lo", "up"]);
        // Made inside the switch's namespace, the host's end moved into the host's: no name
        // is ever taken in the caller's namespace.
        ip(["-n", sw, "link", "add", `p${h.index}`, "type", "veth", "peer", "name", "eth0", "netns", h.ns]);
        ip(["-n", h.ns, "link", "set", "eth0", "address", h.mac]);
        ip(["-n", h.ns, "addr", "add", `${h.address}/24`, "dev", "eth0"]);
        ip(["-n", h.ns, "link", "set", "eth0", "up"]);
        ip(["-n", sw, "link", "set", `p${h.index}`, "master", "br0"]);
        ip(["-n", sw, "link", "set", `p${h.index}`, "up"]);
      }
    } catch (err) {
      rig.destroy();
      throw err;
    }
    return rig;
  }

  host(i: number): NetnsHost {
    const h = this.hosts[i];
    if (h === undefined) throw new RangeError(`no host ${i}`);
    return h;
  }

  /**
   * Starts `command` inside host i's namespace. `ip netns exec` execs the command, so the
   * child's pid is the command's own (signals reach it). Killed by `destroy`.
   */
  spawnIn(i: number, command: string, args: readonly string[], options: SpawnOptions = {}): ChildProcess {
    const child = spawn("ip", ["netns", "exec", this.host(i).ns, command, ...args], options);
    this.children.add(child);
    child.once("exit", () => this.children.delete(child));
    return child;
  }

  /** Host i is cut off in both directions: its switch port goes down (no RST, no ICMP). */
  partition(i: number): void {
    ip(["-n", this.switchNs, "link", "set", `p${this.host(i).index}`, "down"]);
  }

  /** Frames TO host i are dropped at the switch; host i's own frames still get through. */
  oneWay(i: number): void {
    const h = this.host(i);
    // A sticky static entry: the bridge does not move it when host i's frames arrive on its port.
    bridgeCmd(this.switchNs, ["fdb", "replace", h.mac, "dev", "sink", "master", "static", "sticky"]);
  }

  /** Undoes `partition` and `oneWay` for host i. */
  heal(i: number): void {
    const h = this.host(i);
    try {
      bridgeCmd(this.switchNs, ["fdb", "del", h.mac, "dev", "sink", "master"]);
    } catch {
      // no one-way entry
    }
    ip(["-n", this.switchNs, "link", "set", `p${h.index}`, "up"]);
  }

  /**
   * Takes host i's link down and up every `periodMs`, `count` times (bounded), ending up.
   * Resolves when done.
   */
  flap(i: number, periodMs: number, count: number): Promise<void> {
    return new Promise((resolve) => {
      let n = 0;
      const timer = setInterval(() => {
        if (this.destroyed) {
          clearInterval(timer);
          this.flaps.delete(timer);
          resolve();
          return;
        }
        n++;
        if (n % 2 === 1 && n < count * 2) this.partition(i);
        else this.heal(i);
        if (n >= count * 2) {
          clearInterval(timer);
          this.flaps.delete(timer);
          resolve();
        }
      }, periodMs);
      this.flaps.add(timer);
    });
  }

  /** Kills every process started here and deletes every namespace. Idempotent, synchronous. */
  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    process.off("exit", this.onExit);
    for (const t of this.flaps) clearInterval(t);
    for (const child of this.children) {
      if (child.exitCode === null && child.signalCode === null) {
        try {
          child.kill("SIGCONT");
          child.kill("SIGKILL");
        } catch {
          // gone
        }
      }
    }
    for (const ns of [...this.hosts.map((h) => h.ns), this.switchNs]) {
      try {
        ip(["netns", "del", ns]);
      } catch {
        // never made, or already gone
      }
    }
  }
}
