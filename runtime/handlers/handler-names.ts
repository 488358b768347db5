/**
 * Handler names by id (`Locker.lock` for id 1), so errors, logs, traces and metrics can say
 * `Locker.lock (id 1)` instead of `handler 1`. Generated code fills the table: `register<Service>`
 * on the serving side, the generated client's constructor on the calling side. One table is
 * shared by a Manager's registry and all its connections. Read only on cold paths (errors,
 * logs) and by interceptors.
 */
import type { HandlerID } from "../types.js";

export class HandlerNames {
  private readonly byId: (string | undefined)[] = [];

  /** Names `id`. The first name given for an id wins (ids are unique across a cluster's schemas). */
  set(id: HandlerID, name: string): void {
    if (typeof name !== "string" || name.length === 0) return;
    if (this.byId[id] === undefined) this.byId[id] = name;
  }

  /** Names every handler of a service: `{ lock: 1 }` of `Locker` names id 1 `Locker.lock`. */
  addService(service: string, ids: Readonly<Record<string, number>>): void {
    for (const [method, id] of Object.entries(ids)) this.set(id, `${service}.${method}`);
  }

  /** The name of `id`, if one was registered. */
  get(id: HandlerID): string | undefined {
    return this.byId[id];
  }

  /** `Locker.lock (id 1)`, or just `1` when the id has no name (for "stream handler 1"). */
  describe(id: HandlerID): string {
    const name = this.byId[id];
    return name === undefined ? `${id}` : `${name} (id ${id})`;
  }

  /** `Locker.lock (id 1)`, or `handler 1` when the id has no name. */
  label(id: HandlerID): string {
    const name = this.byId[id];
    return name === undefined ? `handler ${id}` : `${name} (id ${id})`;
  }
}
