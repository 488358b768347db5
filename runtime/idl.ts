/**
 * Marker types for `.grid.ts` schemas (`import type { Service, Single, Stream } from "tsgrid/idl"`).
 * They exist only for the type checker and for gridgen; nothing here runs.
 */
// Filled by the gridgen issue.
export {};
