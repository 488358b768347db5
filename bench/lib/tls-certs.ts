/**
 * A throw-away CA and one node certificate (for 127.0.0.1) for the TLS rows, made with the
 * openssl CLI (Node cannot issue X.509 certificates itself). EC P-256: milliseconds.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface BenchTls {
  ca: string;
  cert: string;
  key: string;
}

/** Why TLS rows cannot run here (no openssl), or undefined. */
export function tlsUnavailable(): string | undefined {
  try {
    execFileSync("openssl", ["version"], { stdio: "ignore" });
    return undefined;
  } catch {
    return "the openssl command is not installed (it makes the test certificates)";
  }
}

export function makeBenchTls(): BenchTls {
  const dir = mkdtempSync(join(tmpdir(), "tsgrid-bench-tls-"));
  const run = (args: string[]): void => void execFileSync("openssl", args, { cwd: dir, stdio: "ignore", timeout: 20_000 });
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
  try {
    run(["req", "-x509", ...ec, "-keyout", "ca.key", "-out", "ca.crt", "-days", "2", "-subj", "/CN=bench CA", "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign"]);
    run(["req", "-new", ...ec, "-keyout", "node.key", "-out", "node.csr", "-subj", "/CN=bench node"]);
    writeFileSync(join(dir, "ext.cnf"), "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n");
    run(["x509", "-req", "-in", "node.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-set_serial", "1", "-days", "2", "-out", "node.crt", "-extfile", "ext.cnf"]);
    const read = (f: string): string => readFileSync(join(dir, f), "utf8");
    return { ca: read("ca.crt"), cert: read("node.crt"), key: read("node.key") };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
