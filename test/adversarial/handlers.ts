/** Handler ids the adversarial target serves (fixtures/target.ts). */
export const Handlers = {
  /** Single: answers its payload. */
  Echo: 1,
  /** Single: never answers. */
  Never: 2,
  /** Stream: yields 1 KiB from memory forever, never awaiting anything but its yields. */
  YieldFromMemory: 3,
  /** Stream: yields 1 KiB after each turn of the event loop (a producer that awaits I/O). */
  YieldAwaitingIo: 4,
  /** Stream with input (inCapacity 8) that never reads it; ends when cancelled. */
  NeverReadsInput: 5,
  /**
   * Single: opens a stream back to the caller (handler = first payload byte) and sends 1 KiB
   * input messages as fast as its credits allow; answers how many went out once it fails.
   */
  CallBackWithInput: 6,
  /** Stream: like YieldAwaitingIo, with an output capacity of 1024 messages (1 MiB per stream). */
  YieldAwaitingIoWide: 7,
} as const;
