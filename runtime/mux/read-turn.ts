/**
 * The read turn: from the first message a connection receives in an event-loop iteration to
 * that iteration's check phase (`setImmediate`). Frames queued during a read turn (the
 * answers to what was read, the calls their callers start when an answer resolves them, the
 * credits) are flushed once per connection at the end of the turn, for every connection of
 * the process at once, instead of once per received message and once more per microtask
 * chain.
 *
 * Why: in a mesh every node talks to many peers with few calls in flight on each link. The
 * poll phase of one iteration often reads messages from several peers; flushing after each
 * sent the answers to peer A in one message and, a microtask later, the call its caller then
 * started to A in another, and wrote to B again for each message read from C, D, ... On a
 * small machine the CPU per call is mostly the kernel's per-message cost (a write, a wakeup,
 * a read), so halving the messages nearly halves the CPU per call at low in-flight counts.
 * The frames wait at most until the check phase of the iteration that read their cause: no
 * timer, no added event-loop turn. One `setImmediate` per iteration that read anything,
 * shared by every connection.
 */

// The module's own binding, not the global: a test that fakes the global timers (vitest's
// useFakeTimers, tsgrid/testing's virtual clock) must not hold answers to real I/O until it
// advances time, and in virtual time the end of a read turn costs no simulated time.
import { setImmediate as checkPhase } from "node:timers";

/** What the turn flushes: a frame writer with frames queued during the turn. */
export interface TurnFlushable {
  /** Sends what is queued (a no-op when nothing is, e.g. after an explicit flush). */
  flush(): void;
}

let open = false;
/**
 * The writers to flush, `pending[0..pendingCount)`; each slot is cleared when taken. The
 * list is never truncated (`length = 0` is a runtime call in V8 and frees the backing store,
 * so the next push grew it again: ~1,400 instructions per turn, measured with callgrind).
 */
let pending: (TurnFlushable | undefined)[] = [];
let pendingCount = 0;
/** The list of the turn before, reused: a turn allocates nothing. */
let spare: (TurnFlushable | undefined)[] = [];

/** A connection received a message: the read turn is open until this iteration's check phase. */
export function beginReadTurn(): void {
  if (open) return;
  open = true;
  checkPhase(endReadTurn);
}

/** Whether frames queued now should wait for the end of the read turn. */
export function readTurnOpen(): boolean {
  return open;
}

/** Flushes `writer` at the end of the read turn (call only while it is open). */
export function flushAtEndOfTurn(writer: TurnFlushable): void {
  pending[pendingCount++] = writer;
}

function endReadTurn(): void {
  open = false;
  // A flush may start the next turn (a transport that delivers synchronously): it fills the
  // other list.
  const writers = pending;
  const n = pendingCount;
  pending = spare;
  pendingCount = 0;
  // Each flush catches its own errors (a failed encode drops that link only).
  for (let i = 0; i < n; i++) {
    const writer = writers[i]!;
    writers[i] = undefined;
    writer.flush();
  }
  spare = writers;
}
