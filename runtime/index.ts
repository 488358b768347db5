// tsgrid's public API. What users need first; what libraries and generated code need below.
export * from "./types.js";
export * from "./errors.js";
export * from "./codec/index.js";
