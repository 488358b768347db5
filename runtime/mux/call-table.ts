/**
 * A table of calls in flight by mux id, for the mux's outgoing and incoming tables.
 *
 * Ids are allocated sequentially (by this side, or by the peer for the incoming table), so
 * the calls in flight at any moment fall in a narrow window of ids: a power-of-two array
 * indexed by `id & mask`, with the stored call's own `muxId` checked, finds them with no
 * hashing and no allocation per call (a Map allocated and rehashed as it grew and shrank,
 * about 86 B per call in the profile). An id whose slot holds another live call (a long-lived
 * stream whose id the counter lapped, or ids a peer picked) goes to an overflow Map; the
 * array doubles instead when it is at least half full, and returns to its initial size when
 * the table empties, so an idle connection holds only the small initial array.
 */
export interface Keyed {
  readonly muxId: number;
}

const INITIAL_SLOTS = 64;
/** The array never grows beyond this; more calls in flight share the overflow Map. */
const MAX_SLOTS = 1 << 16;

export class CallTable<T extends Keyed> {
  private slots: (T | undefined)[] = newSlots<T>(INITIAL_SLOTS);
  private mask = INITIAL_SLOTS - 1;
  private readonly overflow = new Map<number, T>();
  private count = 0;

  get size(): number {
    return this.count;
  }

  get(id: number): T | undefined {
    const call = this.slots[id & this.mask];
    if (call !== undefined && call.muxId === id) return call;
    return this.overflow.size === 0 ? undefined : this.overflow.get(id);
  }

  has(id: number): boolean {
    return this.get(id) !== undefined;
  }

  /** Adds or replaces the call under `id` (which must be `call.muxId`). */
  set(id: number, call: T): void {
    if (this.overflow.size !== 0 && this.overflow.has(id)) {
      this.overflow.set(id, call);
      return;
    }
    for (;;) {
      const i = id & this.mask;
      const cur = this.slots[i];
      if (cur === undefined) {
        this.slots[i] = call;
        this.count++;
        return;
      }
      if (cur.muxId === id) {
        this.slots[i] = call;
        return;
      }
      if (this.slots.length >= MAX_SLOTS || this.count * 2 < this.slots.length) {
        this.overflow.set(id, call);
        this.count++;
        return;
      }
      this.grow();
    }
  }

  delete(id: number): boolean {
    const i = id & this.mask;
    const call = this.slots[i];
    if (call !== undefined && call.muxId === id) this.slots[i] = undefined;
    else if (this.overflow.size === 0 || !this.overflow.delete(id)) return false;
    if (--this.count === 0 && this.slots.length > INITIAL_SLOTS) {
      this.slots = newSlots<T>(INITIAL_SLOTS);
      this.mask = INITIAL_SLOTS - 1;
    }
    return true;
  }

  /** A snapshot of every call (safe to iterate while the table changes). */
  values(): T[] {
    const out: T[] = [];
    for (const call of this.slots) if (call !== undefined) out.push(call);
    for (const call of this.overflow.values()) out.push(call);
    return out;
  }

  clear(): void {
    this.slots = newSlots<T>(INITIAL_SLOTS);
    this.mask = INITIAL_SLOTS - 1;
    this.overflow.clear();
    this.count = 0;
  }

  /** Doubles the array: ids distinct modulo n stay distinct modulo 2n, so no slot collides. */
  private grow(): void {
    const old = this.slots;
    const slots = newSlots<T>(old.length * 2);
    const mask = slots.length - 1;
    for (const call of old) if (call !== undefined) slots[call.muxId & mask] = call;
    this.slots = slots;
    this.mask = mask;
    // Overflowed calls move into the array where their slot is now free.
    for (const [id, call] of this.overflow) {
      if (slots[id & mask] === undefined) {
        slots[id & mask] = call;
        this.overflow.delete(id);
      }
    }
  }
}

function newSlots<T>(n: number): (T | undefined)[] {
  return new Array<T | undefined>(n).fill(undefined);
}
