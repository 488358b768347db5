/**
 * The deployment files of the lock-service example (deploy/lock-service/) are checked against
 * the node's command line (examples/lock-service/node-config.ts), since Docker and Kubernetes
 * do not run here; and the image's entry point runs: three nodes with the flags the compose
 * file gives, health endpoints, readiness once a quorum is connected, polite exit on SIGTERM.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { readFileSync, existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import { parseAllDocuments, parse } from "yaml";
import { NODE_FLAGS, parseNodeArgs } from "../../examples/lock-service/node-config.js";
import { freePorts } from "../cluster/helpers.js";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const DEPLOY = `${ROOT}deploy/lock-service/`;
const LOADER = `${ROOT}test/cluster/fixtures/register-ts.mjs`;
const SECRET_ENV = { TSGRID_SECRET: "a-test-secret-of-some-length" };

/** Flags used in an argument list, checked to be node.ts flags. */
function flagsOf(args: readonly string[]): string[] {
  return args.filter((a) => a.startsWith("--")).map((a) => a.slice(2));
}

function expectKnownFlags(args: readonly string[], where: string): void {
  for (const flag of flagsOf(args)) expect(Object.keys(NODE_FLAGS), `${where}: --${flag} is not a node.ts flag`).toContain(flag);
}

const noFile = (path: string): string => {
  throw new Error(`unexpected file read ${path}`);
};

describe("deploy/lock-service: Dockerfile", () => {
  const dockerfile = readFileSync(`${DEPLOY}Dockerfile`, "utf8");

  it("runs the compiled node.ts, exposes the ports the manifests use, runs as a non-root user", () => {
    const entry = /^ENTRYPOINT (\[.*\])$/m.exec(dockerfile);
    expect(entry).not.toBeNull();
    const argv = JSON.parse(entry![1]!) as string[];
    expect(argv[0]).toBe("node");
    // dist/X.js is what tsc -p tsconfig.build.json emits for X.ts.
    const source = argv[1]!.replace(/^dist\//, "").replace(/\.js$/, ".ts");
    expect(source).toBe("examples/lock-service/node.ts");
    expect(existsSync(`${ROOT}${source}`)).toBe(true);
    expect(JSON.parse(readFileSync(`${ROOT}tsconfig.build.json`, "utf8")).include).toContain("examples");
    expect(dockerfile).toMatch(/^EXPOSE 7400 8080$/m);
    expect(dockerfile).toMatch(/^USER node$/m);
    // Every directory the build compiles is copied in.
    for (const dir of JSON.parse(readFileSync(`${ROOT}tsconfig.build.json`, "utf8")).include as string[]) {
      expect(dockerfile, `COPY ${dir}`).toMatch(new RegExp(`^COPY ${dir} ${dir}$`, "m"));
    }
    // No secret baked in.
    expect(dockerfile).not.toMatch(/^(ENV|ARG)\b.*TSGRID_SECRET/m);
  });
});

describe("deploy/lock-service: compose.yaml", () => {
  const compose = parse(readFileSync(`${DEPLOY}compose.yaml`, "utf8"), { merge: true }) as {
    services: Record<string, { command: string[]; hostname: string; environment: Record<string, string>; healthcheck: { test: string[] } }>;
  };

  it("3 nodes with known flags, the same --hosts everywhere, each --local its own entry and reachable by its service name", () => {
    const services = Object.entries(compose.services);
    expect(services).toHaveLength(3);
    const hostLists = new Set<string>();
    for (const [name, svc] of services) {
      expectKnownFlags(svc.command, `compose ${name}`);
      const config = parseNodeArgs(svc.command, SECRET_ENV, noFile);
      hostLists.add(config.hosts.join(","));
      expect(new URL(config.local).hostname).toBe(name);
      expect(svc.hostname).toBe(name);
      expect(config.listenHost).toBe("0.0.0.0");
      expect(config.hosts).toHaveLength(services.length);
      // The secret comes from the environment of `docker compose`, never written here.
      expect(svc.environment.TSGRID_SECRET).toMatch(/^\$\{TSGRID_SECRET:\?/);
      // The health check asks the node's own /readyz on its --health-port.
      expect(svc.healthcheck.test.join(" ")).toContain(`http://127.0.0.1:${config.healthPort}/readyz`);
    }
    expect(hostLists.size).toBe(1);
  });
});

describe("deploy/lock-service: kubernetes.yaml", () => {
  const docs = parseAllDocuments(readFileSync(`${DEPLOY}kubernetes.yaml`, "utf8")).map((d) => d.toJS() as Record<string, any>);
  const byKind = (kind: string): Record<string, any> => {
    const doc = docs.find((d) => d.kind === kind);
    expect(doc, kind).toBeDefined();
    return doc!;
  };

  it("a StatefulSet whose pods' stable DNS names (pod.service) are the --hosts, one per replica", () => {
    const set = byKind("StatefulSet");
    const service = byKind("Service");
    expect(service.spec.clusterIP).toBe("None");
    expect(service.spec.publishNotReadyAddresses).toBe(true);
    expect(set.spec.serviceName).toBe(service.metadata.name);
    expect(set.spec.podManagementPolicy).toBe("Parallel");
    const container = set.spec.template.spec.containers[0];
    const args = container.args as string[];
    expectKnownFlags(args, "StatefulSet");
    const replicas = set.spec.replicas as number;
    // Kubernetes expands $(POD_NAME) from the container's env: check every pod's view.
    expect(container.env.find((e: any) => e.name === "POD_NAME").valueFrom.fieldRef.fieldPath).toBe("metadata.name");
    for (let i = 0; i < replicas; i++) {
      const pod = `${set.metadata.name}-${i}`;
      const config = parseNodeArgs(
        args.map((a) => a.replaceAll("$(POD_NAME)", pod)),
        SECRET_ENV,
        noFile,
      );
      expect(config.hosts).toHaveLength(replicas);
      expect(config.index).toBe(i);
      const url = new URL(config.local);
      expect(url.hostname).toBe(`${pod}.${service.metadata.name}`);
      // The Service and the container expose the port of the addresses.
      expect(service.spec.ports.map((p: any) => p.port)).toContain(Number(url.port));
      expect(container.ports.find((p: any) => p.name === "grid").containerPort).toBe(Number(url.port));
      expect(container.ports.find((p: any) => p.name === "health").containerPort).toBe(config.healthPort);
    }
  });

  it("the secret comes from a Secret; readiness and liveness from the node's health endpoints", () => {
    const container = byKind("StatefulSet").spec.template.spec.containers[0];
    const secret = container.env.find((e: any) => e.name === "TSGRID_SECRET");
    expect(secret.valueFrom.secretKeyRef.key).toBe("secret");
    expect(JSON.stringify(docs)).not.toMatch(/kind":"Secret"/); // not committed with a value
    expect(container.readinessProbe.httpGet.path).toBe("/readyz");
    expect(container.readinessProbe.httpGet.port).toBe("health");
    expect(container.livenessProbe.httpGet.path).toBe("/livez");
    expect(byKind("PodDisruptionBudget").spec.maxUnavailable).toBe(1);
  });
});

describe("node.ts configuration", () => {
  it("refuses what is wrong, with the reason", () => {
    const hosts = "ws://a:1/grid,ws://b:1/grid";
    expect(() => parseNodeArgs(["--hosts", hosts, "--index", "0"], {})).toThrow(/TSGRID_SECRET/);
    expect(() => parseNodeArgs(["--hosts", hosts], SECRET_ENV)).toThrow(/--index or --local/);
    expect(() => parseNodeArgs(["--hosts", hosts, "--local", "ws://a:1/grid/"], SECRET_ENV)).toThrow(/must match one entry exactly/);
    expect(() => parseNodeArgs(["--hosts", hosts, "--index", "2"], SECRET_ENV)).toThrow(/--index must be 0..1/);
    expect(() => parseNodeArgs(["--hosts", hosts, "--index", "0", "--bogus", "x"], SECRET_ENV)).toThrow(/bogus/);
    expect(() => parseNodeArgs(["--hosts", "wss://a:1/grid,wss://b:1/grid", "--index", "0"], SECRET_ENV)).toThrow(/--tls-cert/);
    expect(() => parseNodeArgs(["--hosts", hosts, "--index", "0", "--tls-cert", "c"], SECRET_ENV, () => "pem")).toThrow(/go together/);
    expect(() => parseNodeArgs(["--hosts", hosts, "--index", "0", "--ping-timeout-ms", "0"], SECRET_ENV)).toThrow(/positive integer/);
  });
});

describe("the image's entry point (node.ts) as a 3-node cluster", () => {
  const children: ChildProcess[] = [];
  afterEach(() => {
    for (const c of children.splice(0)) if (c.exitCode === null) c.kill("SIGKILL");
  });

  it("becomes ready once a quorum is connected, serves /livez and /readyz, exits 0 on SIGTERM; a bad config exits 2", async () => {
    const [p1, p2, p3, h1, h2, h3] = await freePorts(6);
    const hosts = [p1, p2, p3].map((p) => `ws://127.0.0.1:${p}/grid`);
    const health: [number, number, number] = [h1!, h2!, h3!];
    const start = (i: number): ChildProcess => {
      const child = spawn(process.execPath, ["--conditions=tsgrid-source", "--import", LOADER, `${ROOT}examples/lock-service/node.ts`, "--local", hosts[i]!, "--hosts", hosts.join(","), "--health-port", String(health[i])], {
        env: { ...process.env, ...SECRET_ENV },
        stdio: ["ignore", "ignore", "pipe"],
      });
      children.push(child);
      return child;
    };
    const ready = async (port: number): Promise<{ status: number; body: { connected: number; needed: number } }> => {
      const res = await fetch(`http://127.0.0.1:${port}/readyz`);
      return { status: res.status, body: (await res.json()) as { connected: number; needed: number } };
    };
    const waitStatus = async (port: number, status: number, timeoutMs: number): Promise<{ connected: number; needed: number }> => {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        try {
          const r = await ready(port);
          if (r.status === status) return r.body;
        } catch {
          // not listening yet
        }
        if (Date.now() > deadline) throw new Error(`port ${port}: no ${status} within ${timeoutMs} ms`);
        await new Promise((r) => setTimeout(r, 100));
      }
    };
    // One node alone is live but not ready (no quorum).
    const first = start(0);
    const alone = await waitStatus(health[0], 503, 30_000);
    expect(alone).toMatchObject({ connected: 0, needed: 1 });
    expect((await fetch(`http://127.0.0.1:${health[0]}/livez`)).status).toBe(200);
    start(1);
    start(2);
    for (const port of health) await waitStatus(port, 200, 30_000);
    // SIGTERM: the Manager closes politely, the process exits 0.
    const exited = new Promise<number | null>((resolve) => first.once("exit", (code) => resolve(code)));
    first.kill("SIGTERM");
    expect(await exited).toBe(0);

    const bad = spawn(process.execPath, ["--conditions=tsgrid-source", "--import", LOADER, `${ROOT}examples/lock-service/node.ts`, "--hosts", hosts.join(",")], {
      env: { ...process.env, ...SECRET_ENV },
      stdio: ["ignore", "ignore", "pipe"],
    });
    children.push(bad);
    let stderr = "";
    bad.stderr!.setEncoding("utf8").on("data", (d: string) => (stderr += d));
    const code = await new Promise<number | null>((resolve) => bad.once("exit", (c) => resolve(c)));
    expect(code).toBe(2);
    expect(stderr).toContain("--index or --local is required");
  }, 90_000);
});
