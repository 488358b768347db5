/**
 * Time for the simulated cluster: real, or virtual.
 *
 * Virtual time installs `@sinonjs/fake-timers` over the whole process (setTimeout,
 * setInterval, setImmediate, Date, performance.now, process.hrtime; not process.nextTick
 * nor microtasks) and drives it from a loop on the REAL setImmediate: each turn fires the
 * next due fake timer, then lets Node run every nextTick and promise job it caused, so
 * every callback runs in the same order as it would on a real event loop, but the clock
 * jumps to the next timer as soon as nothing else is left to do. The runtime's code is not
 * touched: its timers simply are fake ones while the cluster lives. Real I/O (files, real
 * sockets) does not hold the clock back: a test that awaits it sees simulated time run on.
 */

/** The clock of a test cluster. */
export interface SimClock {
  readonly mode: "virtual" | "real";
  /** Milliseconds since the clock was made (simulated in virtual mode). */
  now(): number;
  /** Resolves after `ms` of this clock's time. */
  sleep(ms: number): Promise<void>;
  /** Real monotonic milliseconds, whatever the mode (to measure how fast a simulation runs). */
  realNow(): number;
  /** Fake timers fired so far (0 in real mode): a measure of the work simulated. */
  readonly steps: number;
  /** Restores the real timers (virtual mode). Idempotent. */
  stop(): void;
}

/** Real time: the process's own timers. */
export function realClock(): SimClock {
  const start = performance.now();
  return {
    mode: "real",
    now: () => performance.now() - start,
    sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
    realNow,
    steps: 0,
    stop: () => {},
  };
}

export interface VirtualClockOptions {
  /** `Date.now()` when the clock starts. Default: the real time. */
  startMs?: number;
  /** The clock stops advancing past this much simulated time (a stuck test then times out). */
  maxSimulatedMs: number;
  /** Replaces `Math.random` while the clock is installed (a seeded generator: reproducible runs). */
  random?: () => number;
  /** Told once when `maxSimulatedMs` is reached. */
  onLimit?: (message: string) => void;
}

let installed: VirtualClock | undefined;

// The real timers and clock, taken before any fake clock is installed.
const realHrtime = process.hrtime.bigint.bind(process.hrtime);
const realNow = (): number => Number(realHrtime()) / 1e6;
const realSetImmediate = globalThis.setImmediate;
const realSetTimeout = globalThis.setTimeout;
const realClearTimeout = globalThis.clearTimeout;

/** The part of @sinonjs/fake-timers used here (typed locally: the dependency is optional). */
interface InstalledClock {
  now: number;
  next(): number;
  countTimers(): number;
  uninstall(): unknown;
}
interface FakeTimersModule {
  withGlobal(global: typeof globalThis): {
    install(config: { now: number; toFake: string[]; loopLimit: number }): InstalledClock;
  };
}
const FAKE_TIMERS = "@sinonjs/fake-timers";

async function loadFakeTimers(): Promise<FakeTimersModule> {
  try {
    const mod = (await import(FAKE_TIMERS)) as FakeTimersModule & { default?: FakeTimersModule };
    return typeof mod.withGlobal === "function" ? mod : (mod.default as FakeTimersModule);
  } catch (err) {
    throw new Error(
      'tsgrid/testing: virtual time needs the optional peer dependency "@sinonjs/fake-timers" ' +
        '(npm install --save-dev @sinonjs/fake-timers), or use createTestCluster({ time: "real" })',
      { cause: err },
    );
  }
}

class VirtualClock implements SimClock {
  readonly mode = "virtual";
  steps = 0;
  private readonly realRandom = Math.random;
  private readonly origin: number;
  private stopped = false;
  private idleTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(
    private readonly fake: InstalledClock,
    private readonly options: VirtualClockOptions,
  ) {
    this.origin = fake.now;
    if (options.random !== undefined) Math.random = options.random;
    realSetImmediate(this.step);
  }

  now(): number {
    return this.fake.now - this.origin;
  }

  sleep(ms: number): Promise<void> {
    return new Promise((resolve) => setTimeout(resolve, ms)); // a fake timer while installed
  }

  realNow(): number {
    return realNow();
  }

  /** One turn of the driver: fire the next fake timer, let its jobs run, come back. */
  private readonly step = (): void => {
    this.idleTimer = undefined;
    if (this.stopped) return;
    if (this.fake.countTimers() === 0) {
      // Nothing scheduled: whatever the test waits for is real (I/O); look again soon.
      this.idleTimer = realSetTimeout(this.step, 1);
      return;
    }
    if (this.now() > this.options.maxSimulatedMs) {
      this.options.onLimit?.(
        `tsgrid/testing: the virtual clock stopped at its limit of ${this.options.maxSimulatedMs} ms of simulated time ` +
          "(maxSimulatedMs); the test is probably waiting for something that never happens",
      );
      return;
    }
    try {
      this.fake.next();
      this.steps++;
    } finally {
      // Scheduled after the timer's own setImmediates (fake ones) and before the next
      // turn: every nextTick and promise job of this timer runs first.
      realSetImmediate(this.step);
    }
  };

  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    if (this.idleTimer !== undefined) realClearTimeout(this.idleTimer);
    Math.random = this.realRandom;
    this.fake.uninstall();
    if (installed === this) installed = undefined;
  }
}

/**
 * Installs virtual time over the process. Only one virtual clock at a time (the timers are
 * global): a second one is refused until the first is stopped.
 */
export async function installVirtualClock(options: VirtualClockOptions): Promise<SimClock> {
  if (installed !== undefined) {
    throw new Error("tsgrid/testing: a virtual-time cluster is running already; close it first (the clock is global to the process)");
  }
  const FakeTimers = await loadFakeTimers();
  if (installed !== undefined) throw new Error("tsgrid/testing: a virtual-time cluster is running already");
  const fake = FakeTimers.withGlobal(globalThis).install({
    now: options.startMs ?? Date.now(),
    toFake: ["setTimeout", "clearTimeout", "setInterval", "clearInterval", "setImmediate", "clearImmediate", "Date", "performance", "hrtime"],
    // Deep chains of zero-delay timers are normal in a busy cluster.
    loopLimit: 1_000_000,
  });
  const clock = new VirtualClock(fake, options);
  installed = clock;
  return clock;
}
