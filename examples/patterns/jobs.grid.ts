import type { Service, Single, Stream } from "tsgrid/idl";

/** Some work that takes `ms` milliseconds, and fails with `fail` when it is set. */
export interface Job {
  ms: number;
  fail?: string;
}

export interface JobResult {
  tookMs: number;
}

export interface Progress {
  percent: number;
}

/** Jobs that take a while: the examples of errors, deadlines and cancellation. */
export interface Jobs extends Service {
  /** Runs a job and answers when it is done. */
  run: Single<11, Job, JobResult>;
  /** Runs a job and reports its progress every 10%. */
  follow: Stream<12, { payload: Job; out: Progress; outCapacity: 4 }>;
}
