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
let pending: TurnFlushable[] = [];
/** The list of the turn before, reused: a turn allocates nothing. */
let spare: TurnFlushable[] = [];

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
  pending.push(writer);
}

function endReadTurn(): void {
  open = false;
  const writers = pending;
  pending = spare;
  // Each flush catches its own errors (a failed encode drops that link only).
  for (let i = 0; i < writers.length; i++) writers[i]!.flush();
  writers.length = 0;
  spare = writers;
}
