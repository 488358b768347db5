/** Options of a generated `register<Service>(registrar, impl, opts)` function. */
export interface RegisterOptions {
  /** Serve the service only under this subroute (see `Connection.subroute`). Default: none. */
  subroute?: string | undefined;
}
