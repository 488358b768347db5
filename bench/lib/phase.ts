/**
 * A measured phase of a client: bounded by a deadline AND an operation count, with a latency
 * histogram. A driver issues load until `done` and resolves once its in-flight work drained.
 */
import { performance } from "node:perf_hooks";
import { Histogram } from "./histogram.js";

export class Phase {
  ops = 0;
  readonly hist = new Histogram();
  readonly startedAt = performance.now();
  private readonly deadline: number;

  constructor(
    durationMs: number,
    readonly maxOps: number,
  ) {
    this.deadline = this.startedAt + durationMs;
  }

  /** True once the time or the operation budget is spent: stop issuing new work. */
  get done(): boolean {
    return this.ops >= this.maxOps || performance.now() >= this.deadline;
  }

  /** Milliseconds left before the deadline (never negative). */
  get remainingMs(): number {
    return Math.max(0, this.deadline - performance.now());
  }
}

/** Milliseconds, high resolution. */
export const now = (): number => performance.now();

/** A driver runs load in a phase; returns when all its in-flight work has completed. */
export type Driver = (phase: Phase) => Promise<void>;
