// tsgrid/testing: a simulated cluster with seeded faults, for tsgrid's tests and its users'.
// What a test needs first; the building blocks below.
export { createTestCluster, withTestCluster, TestCluster, SimulationFailure, TEST_MANAGER_DEFAULTS } from "./cluster.js";
export type {
  TestClusterOptions,
  TestManagerOptions,
  TestNode,
  NodeRef,
  FaultHandle,
  KillOptions,
  ChaosOptions,
  ChaosResult,
} from "./cluster.js";
export { ALL_FAULTS, formatFaultLog, planChaos } from "./chaos.js";
export type { FaultKind, FaultLogEntry, PlannedFault, ChaosPlanOptions } from "./chaos.js";
export { seedsFromEnv } from "./seeds.js";
export type { SeedsOptions } from "./seeds.js";
export { createRng } from "./rng.js";
export type { Rng } from "./rng.js";
// Building blocks: the network and the clocks.
export { SimNetwork, SimLink, DEFAULT_LINK_SHAPE, DEFAULT_LINK_BUFFER_BYTES } from "./network.js";
export type { LinkShape, HostState, SimNetworkOptions } from "./network.js";
export type { SimClock } from "./clock.js";
