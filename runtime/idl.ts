/**
 * Marker types for `.grid.ts` schemas:
 *
 * ```ts
 * import type { Service, Single, Stream } from "tsgrid/idl";
 * export interface Storage extends Service {
 *   diskInfo: Single<1, DiskInfoRequest, DiskInfo>;
 *   walkDir: Stream<2, { payload: WalkDirRequest; out: FileInfo; outCapacity: 64 }>;
 * }
 * ```
 *
 * They exist only for the type checker and for gridgen, which reads them by name; nothing here
 * runs. See docs/IDL.md for the full reference.
 */

/** Base of every service interface: `export interface Storage extends Service { ... }`. */
export interface Service {}

/**
 * A single request: one `Req` in, one `Res` out (or an error).
 * `Id` is the handler's numeric id (1..65535): explicit, stable forever, unique across every
 * schema compiled together.
 */
export interface Single<Id extends number, Req, Res> {
  readonly __grid_single?: [Id, Req, Res];
}

/** The shape of a stream handler's options, as given to `Stream<Id, {...}>`. */
export interface StreamSpec {
  /** The message the caller sends when it opens the stream. Omitted: no payload. */
  payload?: unknown;
  /** The messages the caller streams in. Omitted: the caller sends nothing after opening. */
  in?: unknown;
  /** The messages the server streams out. */
  out: unknown;
  /** Credits of the input stream (how many messages the server buffers). Default 32. */
  inCapacity?: number;
  /** Credits of the output stream (how many messages the caller buffers). Default 32. */
  outCapacity?: number;
}

/**
 * A stream: an optional payload, then messages out (server stream) and, when `in` is given,
 * messages in (bidirectional stream), each direction flow-controlled by its capacity.
 */
export interface Stream<Id extends number, Spec extends StreamSpec> {
  readonly __grid_stream?: [Id, Spec];
}
