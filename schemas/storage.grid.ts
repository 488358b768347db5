/**
 * Storage operations every node serves for its local disks (after MinIO's storage REST API).
 */
import type { Service, Single, Stream } from "tsgrid/idl";
import type { LockArgs } from "./locks.grid.js";

/** Health of a disk, as its node sees it. */
export type DiskState = "ok" | "offline" | "healing";

/** Storage medium. Values are the wire format: never renumber. */
export enum DiskKind {
  Unknown = 0,
  Hdd = 1,
  Ssd = 2,
  Nvme = 3,
}

/** How an object is stored. Values are the wire format (S3's names). */
export enum StorageClass {
  Standard = "STANDARD",
  ReducedRedundancy = "REDUCED_REDUNDANCY",
}

/** Number of disks of an erasure set that may fail. */
export type Parity = 2 | 3 | 4;

/** A disk's id: its UUID, as written in its format file. */
export type DiskID = string;

/** Capacity and health of one disk. */
export interface DiskInfo {
  id: DiskID;
  /** Bytes in total. */
  total: number;
  /** Bytes free. */
  free: number;
  /** Bytes used by objects; can exceed 2^53 on large pools. */
  used: bigint;
  healing: boolean;
  /** Address of the disk, when remote. */
  endpoint?: string;
  kind: DiskKind;
  state: DiskState;
  /** Named counters (operations, errors, latency percentiles). */
  metrics: Record<string, number>;
  tags: string[];
  /** Checksum of the disk's format file. */
  checksum: Uint8Array;
  /** When the disk came online. */
  since: Date;
  /** The last error seen, null while healthy. */
  lastError: string | null;
}

export interface DiskInfoRequest {
  disk: DiskID;
  /** Fill `metrics` (costs a scan of the disk's counters). */
  withMetrics?: boolean;
}

export interface WalkDirRequest {
  volume: string;
  /** Directory to list, relative to the volume. */
  path: string;
  recursive: boolean;
  /** Stop after this many entries. Omitted: no limit. */
  limit?: number;
}

/** One part of an object, as stored. */
export interface PartInfo {
  number: number;
  size: bigint;
  etag: string;
}

/** One directory entry. */
export interface FileInfo {
  volume: string;
  name: string;
  isDir: boolean;
  size: bigint;
  modTime: Date;
  parity: Parity;
  /** Omitted for directories. */
  storageClass?: StorageClass;
  /** Parts by part number. */
  parts: Map<number, PartInfo>;
  /** User metadata. */
  metadata: Map<string, string>;
  /** The object's data directory, null for directories and inline objects. */
  dataDir: string | null;
  /** Small objects are stored inline, in their metadata. */
  inline?: Uint8Array;
}

/** One rename, under the caller's lock. */
export interface RenameOp {
  srcVolume: string;
  src: string;
  dstVolume: string;
  dst: string;
  /** The lock the caller holds on src and dst; the disk checks it is still current. */
  lock?: LockArgs;
}

export interface RenameResult {
  src: string;
  ok: boolean;
  /** Why not, when `ok` is false. */
  error?: string;
}

export interface ReadFileRequest {
  volume: string;
  path: string;
  offset: bigint;
  length: number;
}

export interface ReadFileResponse {
  data: Uint8Array;
  eof: boolean;
}

/** Opens a file for writing; the data follows as `WriteChunk`s. */
export interface WriteFileRequest {
  volume: string;
  path: string;
  /** Total size, when known. */
  size?: bigint;
}

export interface WriteChunk {
  data: Uint8Array;
}

/** Progress after each chunk, and a last one with `done: true`. */
export interface WriteProgress {
  written: bigint;
  done: boolean;
}

/** Storage operations served by every node. */
export interface Storage extends Service {
  /** Capacity and health of one disk. */
  diskInfo: Single<1, DiskInfoRequest, DiskInfo>;
  /** Lists a directory, one entry per message. */
  walkDir: Stream<2, { payload: WalkDirRequest; out: FileInfo; outCapacity: 64 }>;
  /** The caller streams renames in; results stream out, in order. */
  renameMany: Stream<3, { in: RenameOp; out: RenameResult; inCapacity: 16; outCapacity: 16 }>;
  /** Reads a range of a file. */
  readFile: Single<4, ReadFileRequest, ReadFileResponse>;
  /** Streams the info of every local disk whenever it changes (the first message: all of them). */
  watchDisks: Stream<5, { out: DiskInfo }>;
  /** Writes a file from a stream of chunks, reporting progress. */
  writeFile: Stream<6, { payload: WriteFileRequest; in: WriteChunk; out: WriteProgress; inCapacity: 8; outCapacity: 8 }>;
}
