/**
 * Reconnect delays: capped exponential backoff with jitter, so a cluster that loses a
 * server does not hammer it in lockstep when it comes back.
 *
 * A dial whose connection was refused (ECONNREFUSED: the peer's host answered at once that
 * nothing listens on the port) starts from a much shorter delay, `refusedDelayMs`: it cost
 * the peer no work, and it is what every dial meets at a cluster's start, where a Manager
 * dials before its peers listen. Both schedules grow by `multiplier` per failed attempt (one
 * attempt counter) to the same `maxDelayMs`, so a peer that stays down is soon dialled as
 * rarely as before.
 */

export interface BackoffOptions {
  /** Delay before the first retry, in ms. Default 100. */
  initialDelayMs: number;
  /**
   * Delay before the first retry after a refused connection (ECONNREFUSED: nothing listens
   * on the peer's port yet), in ms; later retries grow from it by `multiplier`. At most
   * `initialDelayMs` counts. Default 5.
   */
  refusedDelayMs: number;
  /** Upper bound of any delay, in ms. Default 10_000. */
  maxDelayMs: number;
  /** Growth factor per failed attempt. Default 2. */
  multiplier: number;
  /**
   * Fraction of the delay that is random, 0..1: the delay is drawn uniformly from
   * `[d * (1 - jitter), d]`. Default 0.5.
   */
  jitter: number;
}

const MAX_DELAY_MS = 2 ** 31 - 1;

export const defaultBackoffOptions: Readonly<BackoffOptions> = Object.freeze({
  initialDelayMs: 100,
  refusedDelayMs: 5,
  maxDelayMs: 10_000,
  multiplier: 2,
  jitter: 0.5,
});

/** Validates and completes backoff options; throws RangeError on nonsense. */
export function resolveBackoffOptions(options: Partial<BackoffOptions> = {}): BackoffOptions {
  const resolved = { ...defaultBackoffOptions, ...options };
  const { initialDelayMs, refusedDelayMs, maxDelayMs, multiplier, jitter } = resolved;
  // A timer holds at most 2^31-1 ms; a longer delay would fire after 1 ms.
  if (!(initialDelayMs >= 0) || !(maxDelayMs >= initialDelayMs) || !(maxDelayMs <= MAX_DELAY_MS)) {
    throw new RangeError(`backoff needs 0 <= initialDelayMs <= maxDelayMs <= ${MAX_DELAY_MS}, got ${initialDelayMs}, ${maxDelayMs}`);
  }
  if (!(refusedDelayMs >= 0 && refusedDelayMs <= maxDelayMs)) {
    throw new RangeError(`backoff needs 0 <= refusedDelayMs <= maxDelayMs, got ${refusedDelayMs}, ${maxDelayMs}`);
  }
  if (!(multiplier >= 1)) throw new RangeError(`backoff multiplier must be >= 1, got ${multiplier}`);
  if (!(jitter >= 0 && jitter <= 1)) throw new RangeError(`backoff jitter must be within 0..1, got ${jitter}`);
  return resolved;
}

/**
 * Delay before retry number `attempt` (0 for the first retry); `refused`: the failed dial's
 * connection was refused (the schedule from `refusedDelayMs`). `random` returns a number in
 * [0, 1) and is injectable for tests.
 */
export function backoffDelay(
  attempt: number,
  options: BackoffOptions,
  random: () => number = Math.random,
  refused = false,
): number {
  // Exponent clamped so the power never overflows to Infinity * 0 = NaN.
  const exponent = Math.min(Math.max(attempt, 0), 64);
  const first = refused ? Math.min(options.refusedDelayMs, options.initialDelayMs) : options.initialDelayMs;
  const ceiling = Math.min(options.maxDelayMs, first * options.multiplier ** exponent);
  return Math.round(ceiling * (1 - options.jitter * random()));
}
