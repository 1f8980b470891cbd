// @berth-dev/client: the TypeScript client of berth's daemon (berth serve).

export { BerthClient } from "./client.js";
export type { Jobs, Snapshots } from "./client.js";
export type { CreateOptions, GCOptions, ListJobsOptions, WaitOptions } from "./client.js";
export type { BerthClientOptions } from "./http.js";
export type { LogsOptions } from "./logs.js";
export { eventTypes, type EventsOptions } from "./events.js";
export * from "./errors.js";
export * from "./types.js";
export type { components, operations, paths } from "./openapi.gen.js";
