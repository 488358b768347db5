/**
 * The demo node's Prometheus endpoint: `GET /metrics` on its own port, with tsgrid's
 * per-handler and per-peer series (tsgrid/metrics) and the process's default metrics.
 */
import { createServer, type Server } from "node:http";
import { Registry, collectDefaultMetrics } from "prom-client";
import { GridMetrics } from "tsgrid/metrics";

export interface MetricsEndpoint {
  /** Give these to the Manager; call `metrics.observe(manager)` once it exists. */
  metrics: GridMetrics;
  /** Starts serving `/metrics` on `host:port`. */
  listen(host: string, port: number): Promise<void>;
  close(): Promise<void>;
}

export function metricsEndpoint(): MetricsEndpoint {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const metrics = new GridMetrics({ registry });
  let server: Server | undefined;
  return {
    metrics,
    listen(host, port) {
      server = createServer((req, res) => {
        if (req.method !== "GET" || req.url?.split("?")[0] !== "/metrics") {
          res.writeHead(404).end();
          return;
        }
        registry.metrics().then(
          (text) => res.writeHead(200, { "content-type": registry.contentType }).end(text),
          (err: unknown) => res.writeHead(500).end(String(err)),
        );
      });
      const s = server;
      return new Promise((resolve, reject) => {
        s.once("error", reject);
        s.listen(port, host, () => resolve());
      });
    },
    close() {
      metrics.close();
      const s = server;
      return new Promise((resolve) => (s === undefined ? resolve() : s.close(() => resolve())));
    },
  };
}
