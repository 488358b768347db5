/**
 * One "abort" listener per AbortSignal, however many calls share it.
 *
 * `addEventListener` on an EventTarget walks the existing listeners to reject duplicates, so
 * 10,000 calls sharing one signal (a batch cancelled together) would cost O(n²) and trip
 * Node's "possible EventTarget memory leak" warning. Here the signal gets one listener (the
 * group), and the group keeps its calls in a Set (or a single slot for the common
 * one-signal-per-call case).
 */

/** A call that can be cancelled by its caller's signal. */
export interface Abortable {
  onAbort(reason: unknown): void;
}

class Group {
  one: Abortable | undefined;
  many: Set<Abortable> | undefined;

  constructor(
    private readonly owner: AbortGroups,
    readonly signal: AbortSignal,
  ) {}

  get empty(): boolean {
    return this.one === undefined && (this.many === undefined || this.many.size === 0);
  }

  handleEvent(): void {
    this.owner.drop(this);
    const reason: unknown = this.signal.reason;
    const one = this.one;
    const many = this.many;
    this.one = undefined;
    this.many = undefined;
    one?.onAbort(reason);
    if (many !== undefined) for (const call of many) call.onAbort(reason);
  }
}

export class AbortGroups {
  private readonly groups = new WeakMap<AbortSignal, Group>();

  /** Calls `call.onAbort` once when `signal` aborts, unless removed first. */
  add(signal: AbortSignal, call: Abortable): void {
    let group = this.groups.get(signal);
    if (group === undefined) {
      group = new Group(this, signal);
      this.groups.set(signal, group);
      signal.addEventListener("abort", group);
      group.one = call;
      return;
    }
    if (group.one === undefined && group.many === undefined) {
      group.one = call;
      return;
    }
    group.many ??= new Set();
    group.many.add(call);
  }

  remove(signal: AbortSignal, call: Abortable): void {
    const group = this.groups.get(signal);
    if (group === undefined) return;
    if (group.one === call) group.one = undefined;
    else group.many?.delete(call);
    if (group.empty) this.drop(group);
  }

  /** Forgets a group and its listener. */
  drop(group: Group): void {
    if (this.groups.get(group.signal) === group) this.groups.delete(group.signal);
    group.signal.removeEventListener("abort", group);
  }
}
