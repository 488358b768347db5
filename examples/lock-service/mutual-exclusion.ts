/**
 * The demo's correctness check: every critical section a node ran under a quorum lock is
 * reported (resource, mode, start and end on the machine's monotonic clock, which all
 * processes share), and no write section may overlap any other section on the same resource.
 *
 * The times are taken inside the lock: `start` after the quorum granted it, `end` before the
 * unlock is sent, so two sections that the lock service ordered never overlap in time.
 */

export interface CriticalSection {
  resource: string;
  /** Write (exclusive) or read (shared) lock. */
  write: boolean;
  /** Node that held the lock. */
  owner: string;
  /** Monotonic time in ms (`process.hrtime`, shared by every process on the machine). */
  start: number;
  end: number;
}

/** Now, on the clock every process of the machine shares. */
export function monotonicMs(): number {
  return Number(process.hrtime.bigint()) / 1e6;
}

export interface ExclusionReport {
  /** Sections checked. */
  checked: number;
  /** Pairs of sections that held a conflicting lock at the same time (at most 10 kept). */
  overlaps: [CriticalSection, CriticalSection][];
  /** Total number of overlapping pairs. */
  overlapCount: number;
}

const KEPT = 10;

export function checkMutualExclusion(sections: readonly CriticalSection[]): ExclusionReport {
  const byResource = new Map<string, CriticalSection[]>();
  for (const s of sections) {
    const list = byResource.get(s.resource);
    if (list) list.push(s);
    else byResource.set(s.resource, [s]);
  }
  const overlaps: [CriticalSection, CriticalSection][] = [];
  let overlapCount = 0;
  for (const list of byResource.values()) {
    list.sort((a, b) => a.start - b.start);
    // Sweep: sections still open at the current start. Readers may share; a writer may not.
    let open: CriticalSection[] = [];
    for (const s of list) {
      open = open.filter((o) => o.end > s.start);
      for (const o of open) {
        if (!o.write && !s.write) continue;
        overlapCount++;
        if (overlaps.length < KEPT) overlaps.push([o, s]);
      }
      open.push(s);
    }
  }
  return { checked: sections.length, overlaps, overlapCount };
}
