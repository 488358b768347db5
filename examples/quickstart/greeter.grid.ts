import type { Service, Single, Stream } from "tsgrid/idl";

export interface HelloRequest {
  name: string;
}

export interface HelloReply {
  message: string;
}

export interface CountRequest {
  to: number;
}

export interface Tick {
  n: number;
}

export interface Total {
  sum: number;
}

/** A tiny service with one handler of each form. */
export interface Greeter extends Service {
  /** Single request: one message in, one out. */
  hello: Single<1, HelloRequest, HelloReply>;
  /** Server stream: counts from 1 to `to`, one message each. */
  count: Stream<2, { payload: CountRequest; out: Tick }>;
  /** Bidirectional stream: numbers in, running totals out. */
  sum: Stream<3, { in: Tick; out: Total }>;
}
