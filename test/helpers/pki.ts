/**
 * Test certificates made with the openssl CLI: a CA, node certificates signed by it (server
 * and client use, with the names given), a second unrelated CA, and an expired certificate.
 * Node's crypto can make keys but not X.509 certificates, and a JS PKI library would be a new
 * dependency (and slow); openssl is on every Linux image CI uses. `opensslMissing()` says
 * why a suite must skip where it is not.
 * EC P-256 keys: generated in milliseconds.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface CertPair {
  cert: string;
  key: string;
}

export interface Pki {
  /** The cluster's CA certificate (PEM). */
  ca: string;
  /** A certificate signed by the cluster's CA for these subject alternative names. */
  issue(name: string, altNames: readonly string[]): CertPair;
  /** A certificate for the names, signed by the CA, valid only in January 2020. */
  issueExpired(name: string, altNames: readonly string[]): CertPair;
  /** A second, unrelated CA, and a certificate it signed for the names. */
  foreign(name: string, altNames: readonly string[]): CertPair & { ca: string };
  /** Deletes the temporary directory. */
  dispose(): void;
}

export function opensslMissing(): string | undefined {
  try {
    execFileSync("openssl", ["version"], { stdio: "ignore" });
    return undefined;
  } catch {
    return "the openssl command is not installed";
  }
}

function openssl(dir: string, args: readonly string[]): void {
  execFileSync("openssl", args, { cwd: dir, stdio: ["ignore", "pipe", "pipe"], timeout: 20_000 });
}

const EC = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];

function makeCa(dir: string, prefix: string, cn: string): void {
  openssl(dir, [
    "req", "-x509", ...EC, "-keyout", `${prefix}.key`, "-out", `${prefix}.crt`, "-days", "2", "-subj", `/CN=${cn}`,
    "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
  ]);
}

/** A new PKI in a temporary directory. */
export function makePki(): Pki {
  const dir = mkdtempSync(join(tmpdir(), "tsgrid-pki-"));
  let serial = 1;
  makeCa(dir, "ca", "tsgrid test CA");
  const ext = (altNames: readonly string[]): string => {
    const file = `ext-${serial}.cnf`;
    writeFileSync(
      join(dir, file),
      `subjectAltName=${altNames.join(",")}\nextendedKeyUsage=serverAuth,clientAuth\nkeyUsage=critical,digitalSignature\nbasicConstraints=CA:FALSE\n`,
    );
    return file;
  };
  const csr = (name: string): string => {
    const base = `${name}-${serial}`;
    openssl(dir, ["req", "-new", ...EC, "-keyout", `${base}.key`, "-out", `${base}.csr`, "-subj", `/CN=${name}`]);
    return base;
  };
  const read = (file: string): string => readFileSync(join(dir, file), "utf8");
  const signWith = (caPrefix: string, name: string, altNames: readonly string[]): CertPair => {
    const base = csr(name);
    const extFile = ext(altNames);
    openssl(dir, ["x509", "-req", "-in", `${base}.csr`, "-CA", `${caPrefix}.crt`, "-CAkey", `${caPrefix}.key`, "-set_serial", String(serial++), "-days", "2", "-out", `${base}.crt`, "-extfile", extFile]);
    return { cert: read(`${base}.crt`), key: read(`${base}.key`) };
  };
  let foreignMade = false;
  return {
    ca: read("ca.crt"),
    issue: (name, altNames) => signWith("ca", name, altNames),
    issueExpired(name, altNames) {
      // `openssl x509` of OpenSSL 3.0 cannot set dates in the past; `openssl ca` can.
      const base = csr(name);
      const extFile = ext(altNames);
      writeFileSync(join(dir, "index.txt"), "");
      writeFileSync(join(dir, "serial"), `${(1000 + serial++).toString(16).padStart(4, "0")}\n`);
      writeFileSync(
        join(dir, "ca.cnf"),
        [
          "[ca]",
          "default_ca = local_ca",
          "[local_ca]",
          `dir = ${dir}`,
          "database = $dir/index.txt",
          "new_certs_dir = $dir",
          "serial = $dir/serial",
          "certificate = $dir/ca.crt",
          "private_key = $dir/ca.key",
          "default_md = sha256",
          "policy = any",
          "unique_subject = no",
          "[any]",
          "commonName = supplied",
          "",
        ].join("\n"),
      );
      openssl(dir, ["ca", "-config", "ca.cnf", "-batch", "-notext", "-startdate", "20200101000000Z", "-enddate", "20200131000000Z", "-in", `${base}.csr`, "-out", `${base}.crt`, "-extfile", extFile]);
      return { cert: read(`${base}.crt`), key: read(`${base}.key`) };
    },
    foreign(name, altNames) {
      if (!foreignMade) makeCa(dir, "other-ca", "some other CA");
      foreignMade = true;
      return { ...signWith("other-ca", name, altNames), ca: read("other-ca.crt") };
    },
    dispose: () => rmSync(dir, { recursive: true, force: true }),
  };
}
