/**
 * `createTestCluster`: N Managers in one process on a simulated network, with fault controls
 * and seeded fault schedules. The Managers are the real ones (same handshake, auth,
 * dialling, pings, reconnects); only the byte streams under their WebSockets are simulated,
 * through the Manager's own seams (a ConnDialer per node, `incomingConn` for accepted links).
 */
import type { ClusterAuth } from "../auth/cluster-auth.js";
import { sharedSecretAuth } from "../auth/shared-secret.js";
import { Manager, type ManagerOptions } from "../cluster/manager.js";
import { silentLogger } from "../logger.js";
import { ALL_FAULTS, describeFault, formatFaultLog, planChaos, shortName, type FaultKind, type FaultLogEntry, type PlannedFault } from "./chaos.js";
import { installVirtualClock, realClock, type SimClock } from "./clock.js";
import { SimNetwork, DEFAULT_LINK_BUFFER_BYTES, type HostState, type LinkShape } from "./network.js";
import { createRng, normalizeSeed, type Rng } from "./rng.js";

/** A node by its index in `cluster.nodes` or by its address. */
export type NodeRef = number | string;

/** Manager options a test may set (the cluster sets `local`, `hosts`, `dialer` and `instanceId`). */
export type TestManagerOptions = Partial<Omit<ManagerOptions, "local" | "hosts" | "dialer" | "instanceId">>;

export interface TestClusterOptions {
  /** How many nodes (named `ws://node-1/grid`, ...), or their addresses. Default 3. */
  nodes?: number | readonly string[];
  /**
   * Seeds everything random in the simulation: chaos schedules (unless they get their own
   * seed), link jitter, the shared secret and, in virtual time, `Math.random`. Default 1.
   */
  seed?: number;
  /**
   * "virtual" (default): timers are fake and the clock jumps ahead whenever the process is
   * idle, so simulated minutes take milliseconds and a seed replays the same run. Needs the
   * optional peer dependency `@sinonjs/fake-timers`. "real": the process's own timers.
   */
  time?: "virtual" | "real";
  /**
   * Called for each node whenever its Manager is made: at start and at every restart.
   * Register the node's services here. State kept outside the Manager (a closure, a map by
   * `node.name`) survives restarts; the Manager's own does not.
   */
  setup?: (node: TestNode) => void;
  /** Options of every node's Manager (timings, limits, logger). Defaults: see `TEST_MANAGER_DEFAULTS`. */
  manager?: TestManagerOptions;
  /** Per-node Manager options, over `manager`. */
  managerFor?: (name: string, index: number) => TestManagerOptions;
  /** Cluster auth. Default: `sharedSecretAuth` with a secret drawn from the seed. `false`: none. */
  auth?: ClusterAuth | false;
  /** Shape of every link when no fault is in force. Default: no delay, no bandwidth limit. */
  link?: Partial<LinkShape>;
  /** Bytes one direction of a link holds in flight before the sender's writes wait. Default 256 KiB. */
  linkBufferBytes?: number;
  /**
   * Virtual time only: the clock stops after this much simulated time and says so on
   * stderr; a test waiting for something that never happens then hits its runner's timeout
   * instead of spinning. Default 3 600 000 (one simulated hour).
   */
  maxSimulatedMs?: number;
  /** Wait until every node is connected to every other before resolving. Default true. */
  waitConnected?: boolean;
}

/**
 * What the cluster gives every Manager unless told otherwise: no logs, and reconnects and
 * pings quick enough that a test sees a fault and its repair within a few simulated seconds.
 */
export const TEST_MANAGER_DEFAULTS: Readonly<TestManagerOptions> = Object.freeze({
  logger: silentLogger,
  reconnect: { initialDelayMs: 20, maxDelayMs: 500 },
  pingIntervalMs: 500,
  pingTimeoutMs: 2_000,
  dialTimeoutMs: 2_000,
  handshakeTimeoutMs: 2_000,
  closeTimeoutMs: 200,
});

export const DEFAULT_MAX_SIMULATED_MS = 3_600_000;
export const DEFAULT_WAIT_CONNECTED_MS = 30_000;

/** One node of the cluster. */
export interface TestNode {
  /** Its address, also its name in the cluster. */
  readonly name: string;
  readonly index: number;
  /** The current Manager (a new one after each restart); throws while the node is down. */
  readonly manager: Manager;
  /** The current Manager's instance id. */
  readonly instanceId: string;
  /** up, crashed (process gone, links reset) or off (machine gone, links silent). */
  readonly state: HostState;
  /** Times this node was restarted. */
  readonly restarts: number;
}

/** A fault in force, until `revert()` (idempotent). */
export interface FaultHandle {
  revert(): void;
}

export interface KillOptions {
  /**
   * "crash" (default): the process dies; its kernel resets every link and refuses new ones.
   * "power-off": the machine goes away; its links go silent and dials to it hang.
   */
  how?: "crash" | "power-off";
}

export interface ChaosOptions {
  /** Seeds the schedule. Default: the cluster's seed. */
  seed?: number;
  /** How long the run lasts; every fault ends by then and killed nodes are restarted. */
  durationMs: number;
  /** Which faults to draw from. Default: all of them (`ALL_FAULTS`). */
  faults?: readonly FaultKind[];
  /** Pause between the starts of two faults, [min, max] ms. Default [50, 500]. */
  gapMs?: readonly [number, number];
  /** How long one fault lasts, [min, max] ms. Default [100, 2000]. */
  faultMs?: readonly [number, number];
  /** Faults in force at once, at most. Default 2. */
  maxConcurrent?: number;
  /** Nodes crashed, powered off or stalled at once, at most. Default: a minority, floor((n-1)/2), at least 1. */
  maxDown?: number;
}

export interface ChaosResult {
  seed: number;
  /** The schedule that was run. */
  plan: PlannedFault[];
  /** The run's faults and repairs, at times relative to its start: the same for the same seed. */
  log: FaultLogEntry[];
}

interface NodeSlot {
  name: string;
  index: number;
  manager: Manager | undefined;
  restarts: number;
  view: TestNode;
}

/** N Managers on a simulated network. Make one with `createTestCluster`. */
export class TestCluster {
  readonly seed: number;
  readonly clock: SimClock;
  readonly network: SimNetwork;
  readonly nodes: readonly TestNode[];
  /** Every fault and repair so far (manual ones and chaos runs), at cluster time. */
  readonly faultLog: FaultLogEntry[] = [];
  private readonly slots: NodeSlot[];
  private readonly names: string[];
  private readonly options: TestClusterOptions;
  private readonly auth: ClusterAuth | undefined;
  private readonly rng: Rng;
  private readonly idRng: Rng;
  private closing: Promise<void> | undefined;
  private readonly running = new Set<Promise<unknown>>();

  /** @internal use `createTestCluster` */
  constructor(options: TestClusterOptions, seed: number, clock: SimClock, rng: Rng) {
    this.options = options;
    this.seed = seed;
    this.clock = clock;
    this.rng = rng;
    this.idRng = rng.fork("instance-ids");
    const spec = options.nodes ?? 3;
    this.names = typeof spec === "number" ? Array.from({ length: spec }, (_, i) => `ws://node-${i + 1}/grid`) : [...spec];
    if (this.names.length < 1) throw new RangeError("a test cluster needs at least one node");
    if (new Set(this.names).size !== this.names.length) throw new RangeError("node addresses must be distinct");
    this.network = new SimNetwork({
      now: () => clock.now(),
      rng: rng.fork("network"),
      bufferBytes: options.linkBufferBytes ?? DEFAULT_LINK_BUFFER_BYTES,
      ...(options.link === undefined ? {} : { shape: options.link }),
    });
    const secretRng = rng.fork("secret");
    this.auth =
      options.auth === false ? undefined : (options.auth ?? sharedSecretAuth(`tsgrid-test-${seed}-${secretRng.int(0, 2 ** 31)}`));
    this.slots = this.names.map((name, index) => {
      this.network.addHost(name);
      const slot: NodeSlot = { name, index, manager: undefined, restarts: 0, view: undefined as unknown as TestNode };
      const network = this.network;
      slot.view = {
        name,
        index,
        get manager(): Manager {
          if (slot.manager === undefined) throw new Error(`${name} is down`);
          return slot.manager;
        },
        get instanceId(): string {
          if (slot.manager === undefined) throw new Error(`${name} is down`);
          return slot.manager.instanceId;
        },
        get state(): HostState {
          return network.stateOf(name);
        },
        get restarts(): number {
          return slot.restarts;
        },
      };
      return slot;
    });
    this.nodes = this.slots.map((s) => s.view);
  }

  /** @internal */
  start(): void {
    for (const slot of this.slots) this.boot(slot);
  }

  // ---- nodes ------------------------------------------------------------------------------

  /** A node by index or address. */
  node(ref: NodeRef): TestNode {
    return this.slot(ref).view;
  }

  /** The current Manager of a node. */
  manager(ref: NodeRef): Manager {
    return this.slot(ref).view.manager;
  }

  /** Milliseconds since the cluster started, on its clock (simulated in virtual mode). */
  now(): number {
    return this.clock.now();
  }

  /** Waits `ms` on the cluster's clock. */
  sleep(ms: number): Promise<void> {
    return this.clock.sleep(ms);
  }

  /**
   * Resolves when every node that is up is connected to every other node that is up;
   * rejects after `timeoutMs` (cluster time, default 30 000) naming the pairs still apart.
   */
  async waitConnected(options: { timeoutMs?: number } = {}): Promise<void> {
    const timeoutMs = options.timeoutMs ?? DEFAULT_WAIT_CONNECTED_MS;
    const deadline = this.now() + timeoutMs;
    for (;;) {
      const apart = this.disconnectedPairs();
      if (apart.length === 0) return;
      if (this.now() >= deadline) {
        throw new Error(`tsgrid/testing: not connected after ${timeoutMs} ms: ${apart.map(([a, b]) => `${shortName(a)}->${shortName(b)}`).join(", ")}`);
      }
      await this.sleep(10);
    }
  }

  /** Pairs [from, to] of up nodes whose connection is not "connected" as `from` sees it. */
  disconnectedPairs(): [string, string][] {
    const out: [string, string][] = [];
    for (const a of this.slots) {
      if (a.manager === undefined) continue;
      for (const b of this.slots) {
        if (b === a || b.manager === undefined) continue;
        if (a.manager.connection(b.name).state !== "connected") out.push([a.name, b.name]);
      }
    }
    return out;
  }

  // ---- faults -----------------------------------------------------------------------------

  /**
   * Splits the cluster: nodes in different groups cannot reach each other (both ways).
   * With one group, it is cut off from all the others. Bytes already sent wait, as TCP's
   * retransmissions would, and arrive after the heal if the link is still up by then.
   */
  partition(...groups: readonly (readonly NodeRef[])[]): FaultHandle {
    const sets = this.groupsOf(groups);
    const pairs: [string, string][] = [];
    for (let i = 0; i < sets.length; i++) {
      for (let j = 0; j < sets.length; j++) {
        if (i === j) continue;
        for (const a of sets[i]!) for (const b of sets[j]!) pairs.push([a, b]);
      }
    }
    return this.blockPairs(pairs, "partition", sets.map((s) => `{${s.map(shortName).join(",")}}`).join(" | "));
  }

  /** Packets from `from`'s nodes to `to`'s nodes are lost; the other way passes. */
  partitionOneWay(from: readonly NodeRef[], to: readonly NodeRef[]): FaultHandle {
    const a = from.map((r) => this.slot(r).name);
    const b = to.map((r) => this.slot(r).name);
    const pairs: [string, string][] = [];
    for (const x of a) for (const y of b) if (x !== y) pairs.push([x, y]);
    return this.blockPairs(pairs, "partition-one-way", `{${a.map(shortName).join(",")}} -> {${b.map(shortName).join(",")}} lost`);
  }

  /** Ends every partition (manual or chaos). */
  heal(): void {
    this.network.unblockAll();
    this.log("heal", "all partitions");
  }

  /** Resets every link between two nodes: both ends see it close, as when one side's socket dies. */
  dropLink(a: NodeRef, b: NodeRef): number {
    const [x, y] = [this.slot(a).name, this.slot(b).name];
    const n = this.network.resetLinks(x, y);
    this.log("drop-link", `${shortName(x)},${shortName(y)} (${n} link${n === 1 ? "" : "s"})`);
    return n;
  }

  /** The links between two nodes go silent for good and nobody is told (pings must find out). */
  blackholeLink(a: NodeRef, b: NodeRef): number {
    const [x, y] = [this.slot(a).name, this.slot(b).name];
    const n = this.network.blackholeLinks(x, y);
    this.log("blackhole-link", `${shortName(x)},${shortName(y)} (${n} link${n === 1 ? "" : "s"})`);
    return n;
  }

  /**
   * Adds delay, jitter and/or a bandwidth limit between two nodes (both ways unless
   * `oneWay`), for existing and new links, until reverted. Shapes in force add up.
   */
  shapeLink(a: NodeRef, b: NodeRef, shape: Partial<LinkShape>, options: { oneWay?: boolean } = {}): FaultHandle {
    const [x, y] = [this.slot(a).name, this.slot(b).name];
    const removers = [this.network.addShape(x, y, shape)];
    if (options.oneWay !== true) removers.push(this.network.addShape(y, x, shape));
    const detail = `${shortName(x)}${options.oneWay === true ? "->" : ","}${shortName(y)} ${JSON.stringify(shape)}`;
    this.log("shape-link", detail);
    return this.handle(() => {
      for (const remove of removers) remove();
      this.log("unshape-link", detail);
    });
  }

  /**
   * Freezes a node's traffic, as a long GC pause or SIGSTOP would seen from outside: it
   * receives nothing and what it sends waits; on `revert()` everything flows, in order.
   * Its timers keep running (the process is not really paused).
   */
  stall(ref: NodeRef): FaultHandle {
    const name = this.slot(ref).name;
    this.network.stall(name);
    this.log("stall", shortName(name));
    return this.handle(() => {
      this.network.resume(name);
      this.log("resume", shortName(name));
    });
  }

  /**
   * Kills a node's process: its Manager is closed after its links are cut, so its peers see
   * what they would see of a crash (resets) or a power-off (silence). Calls in flight on
   * the node fail; its state is lost unless the test keeps it outside the Manager.
   */
  async kill(ref: NodeRef, options: KillOptions = {}): Promise<void> {
    const slot = this.slot(ref);
    const manager = slot.manager;
    if (manager === undefined) throw new Error(`${slot.name} is down already`);
    const how = options.how ?? "crash";
    slot.manager = undefined;
    this.network.takeDown(slot.name, how === "crash" ? "crashed" : "off");
    this.log(how === "crash" ? "crash" : "power-off", shortName(slot.name));
    await manager.close();
  }

  /** Starts a node that is down as a new instance (new instance id; `setup` runs again). */
  restart(ref: NodeRef): TestNode {
    const slot = this.slot(ref);
    if (slot.manager !== undefined) throw new Error(`${slot.name} is up; kill it first`);
    slot.restarts++;
    this.boot(slot);
    this.log("restart", `${shortName(slot.name)} (instance ${slot.manager!.instanceId})`);
    return slot.view;
  }

  // ---- chaos ------------------------------------------------------------------------------

  /**
   * Runs a fault schedule drawn from `seed`: faults start and end at their planned times,
   * each is logged, and when `durationMs` is over every fault has ended and every node
   * killed by the run is up again. Resolves with the schedule and its log.
   */
  async chaos(options: ChaosOptions): Promise<ChaosResult> {
    const seed = normalizeSeed(options.seed ?? this.seed);
    const n = this.names.length;
    const plan = planChaos(createRng(seed).fork("chaos"), this.names, {
      durationMs: options.durationMs,
      faults: options.faults ?? ALL_FAULTS,
      gapMs: options.gapMs ?? [50, 500],
      faultMs: options.faultMs ?? [100, 2_000],
      maxConcurrent: options.maxConcurrent ?? 2,
      maxDown: options.maxDown ?? Math.max(1, Math.floor((n - 1) / 2)),
    });
    const log: FaultLogEntry[] = [];
    const start = this.now();
    const note = (atMs: number, action: string, detail: string): void => {
      log.push({ atMs, action, detail });
    };
    // Start and end events in time order; at the same time, ends first (a node restarts
    // before another fault may take it down again).
    const events: { at: number; order: number; run: () => Promise<void> | void }[] = [];
    plan.forEach((fault, i) => {
      let undo: (() => Promise<void> | void) | undefined;
      events.push({
        at: fault.atMs,
        order: 1_000_000 + i,
        run: () => {
          note(fault.atMs, fault.kind, describeFault(fault));
          undo = this.apply(fault);
        },
      });
      if (fault.durationMs > 0) {
        events.push({
          at: fault.atMs + fault.durationMs,
          order: i,
          run: async () => {
            note(fault.atMs + fault.durationMs, `end ${fault.kind}`, describeFault(fault));
            await undo?.();
          },
        });
      }
    });
    events.sort((x, y) => x.at - y.at || x.order - y.order);
    for (const event of events) {
      const wait = start + event.at - this.now();
      if (wait > 0) await this.sleep(wait);
      await event.run();
    }
    const rest = start + options.durationMs - this.now();
    if (rest > 0) await this.sleep(rest);
    return { seed, plan, log };
  }

  /** Puts one planned fault in force; returns its undo. */
  private apply(fault: PlannedFault): (() => Promise<void> | void) | undefined {
    const [a, b] = fault.nodes as [string, string];
    switch (fault.kind) {
      case "partition":
        return quiet(this.partition(...fault.groups!));
      case "partition-one-way":
        return quiet(this.partitionOneWay(fault.groups![0]!, fault.groups![1]!));
      case "drop-link":
        this.dropLink(a, b);
        return undefined;
      case "blackhole-link":
        this.blackholeLink(a, b);
        return undefined;
      case "delay":
        return quiet(this.shapeLink(a, b, { delayMs: fault.delayMs ?? 0, jitterMs: fault.jitterMs ?? 0 }));
      case "bandwidth":
        return quiet(this.shapeLink(a, b, { bandwidthBytesPerSec: fault.bandwidthBytesPerSec ?? 0 }));
      case "stall":
        return quiet(this.stall(a));
      case "crash":
      case "power-off": {
        const killed = this.track(this.kill(a, { how: fault.kind === "crash" ? "crash" : "power-off" }));
        return async () => {
          await killed;
          this.restart(a);
        };
      }
    }
  }

  // ---- reports and shutdown ---------------------------------------------------------------

  /** The seed, how to replay it, and the fault log: what a failing test should print. */
  report(): string {
    return [
      `tsgrid/testing: seed ${this.seed} (${this.clock.mode} time, ${this.names.length} nodes, at ${Math.round(this.now())} ms)`,
      `replay: TSGRID_SEED=${this.seed} npm test`,
      "fault log:",
      formatFaultLog(this.faultLog),
    ].join("\n");
  }

  /** Closes every Manager and the network, and restores the real timers. Idempotent. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      await Promise.allSettled([...this.running]);
      await Promise.allSettled(this.slots.map((s) => s.manager?.close()));
      this.network.shutdown();
      this.clock.stop();
    })();
    return this.closing;
  }

  // ---- internals --------------------------------------------------------------------------

  private boot(slot: NodeSlot): void {
    const options: ManagerOptions = {
      ...TEST_MANAGER_DEFAULTS,
      ...this.options.manager,
      ...this.options.managerFor?.(slot.name, slot.index),
      local: slot.name,
      hosts: this.names,
      // Drawn from the seed, so a replayed run logs the same ids.
      instanceId: `${shortName(slot.name)}-${slot.restarts}-${this.idRng.int(0, 0xffffffff).toString(16).padStart(8, "0")}`,
      dialer: this.network.dialerFor(slot.name),
      ...(this.auth === undefined ? {} : { auth: this.auth }),
    };
    const manager = new Manager(options);
    slot.manager = manager;
    this.network.bringUp(slot.name, (stream) => manager.incomingConn(stream));
    this.options.setup?.(slot.view);
  }

  private slot(ref: NodeRef): NodeSlot {
    const slot = typeof ref === "number" ? this.slots[ref] : this.slots.find((s) => s.name === ref);
    if (slot === undefined) throw new RangeError(`no node ${String(ref)} in this cluster`);
    return slot;
  }

  private groupsOf(groups: readonly (readonly NodeRef[])[]): string[][] {
    const sets = groups.map((g) => g.map((r) => this.slot(r).name));
    if (sets.length === 1) {
      const inside = new Set(sets[0]);
      sets.push(this.names.filter((n) => !inside.has(n)));
    }
    const seen = new Set<string>();
    for (const set of sets) {
      for (const name of set) {
        if (seen.has(name)) throw new RangeError(`${name} is in two groups of the partition`);
        seen.add(name);
      }
    }
    return sets.filter((s) => s.length > 0);
  }

  private blockPairs(pairs: [string, string][], action: string, detail: string): FaultHandle {
    for (const [a, b] of pairs) this.network.block(a, b);
    this.log(action, detail);
    return this.handle(() => {
      for (const [a, b] of pairs) this.network.unblock(a, b);
      this.log(`end ${action}`, detail);
    });
  }

  private handle(revert: () => void): FaultHandle {
    let done = false;
    return {
      revert: () => {
        if (done) return;
        done = true;
        revert();
      },
    };
  }

  private log(action: string, detail: string): void {
    this.faultLog.push({ atMs: Math.round(this.now()), action, detail });
  }

  private track<T>(promise: Promise<T>): Promise<T> {
    this.running.add(promise);
    void promise.finally(() => this.running.delete(promise)).catch(() => {});
    return promise;
  }
}

function quiet(handle: FaultHandle): () => void {
  return () => handle.revert();
}

/**
 * Makes a cluster and (unless `waitConnected: false`) waits until every node is connected
 * to every other. Close it with `close()`, or use `withTestCluster`.
 */
export async function createTestCluster(options: TestClusterOptions = {}): Promise<TestCluster> {
  const seed = normalizeSeed(options.seed ?? 1);
  const rng = createRng(seed);
  const mode = options.time ?? "virtual";
  if (mode !== "virtual" && mode !== "real") throw new RangeError(`time must be "virtual" or "real", got ${String(mode)}`);
  const maxSimulatedMs = options.maxSimulatedMs ?? DEFAULT_MAX_SIMULATED_MS;
  const clock =
    mode === "virtual"
      ? await installVirtualClock({
          maxSimulatedMs,
          random: ((r) => () => r.next())(rng.fork("math-random")),
          onLimit: (message) => process.stderr.write(`${message}\n`),
        })
      : realClock();
  let cluster: TestCluster;
  try {
    cluster = new TestCluster(options, seed, clock, rng);
    cluster.start();
  } catch (err) {
    clock.stop();
    throw err;
  }
  if (options.waitConnected !== false) {
    try {
      await cluster.waitConnected();
    } catch (err) {
      await cluster.close();
      throw err;
    }
  }
  return cluster;
}

/** Thrown by `withTestCluster` when the body fails: the cause, the seed and the fault log. */
export class SimulationFailure extends Error {
  constructor(
    readonly seed: number,
    readonly report: string,
    options: { cause: unknown },
  ) {
    const cause = options.cause instanceof Error ? options.cause.message : String(options.cause);
    super(`${cause}\n\n${report}`, options);
    this.name = "SimulationFailure";
  }
}

/**
 * Runs `body` on a new cluster and always closes it. When `body` throws, the error is
 * wrapped in a `SimulationFailure` whose message carries the seed, the replay command and
 * the fault log.
 */
export async function withTestCluster<T>(options: TestClusterOptions, body: (cluster: TestCluster) => Promise<T>): Promise<T> {
  const cluster = await createTestCluster(options);
  try {
    return await body(cluster);
  } catch (err) {
    throw new SimulationFailure(cluster.seed, cluster.report(), { cause: err });
  } finally {
    await cluster.close();
  }
}
