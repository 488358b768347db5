import { fileURLToPath } from "node:url";
import { Manager, sharedSecretAuth } from "tsgrid";
import { GreeterClient, registerGreeter, type GreeterServer } from "./generated/greeter.js";

// #region implement
const greeter: GreeterServer = {
  hello({ name }, ctx) {
    return { message: `Hello ${name}, from a server called by ${ctx.caller}` };
  },
  async *count({ to }) {
    for (let n = 1; n <= to; n++) yield { n };
  },
  async *sum(numbers) {
    let sum = 0;
    for await (const { n } of numbers) yield { sum: (sum += n) };
  },
};
// #endregion implement

export async function main(ports = [9101, 9102]): Promise<string[]> {
  const output: string[] = [];
  // #region managers
  const hosts = ports.map((port) => `ws://127.0.0.1:${port}/grid`);
  const managers = hosts.map((local) => new Manager({ local, hosts, auth: sharedSecretAuth("change me") }));
  for (const manager of managers) {
    registerGreeter(manager, greeter);
    await manager.listen();
  }
  // #endregion managers
  try {
    // #region call
    const conn = managers[0]!.connection(hosts[1]!);
    await conn.waitConnected();
    const client = new GreeterClient(conn);

    // A single request.
    const { message } = await client.hello({ name: "world" });
    output.push(message);

    // #region server-stream
    // A server stream.
    const ticks = await client.count({ to: 3 });
    for await (const { n } of ticks.responses) output.push(`tick ${n}`);
    // #endregion server-stream

    // #region bidi
    // A bidirectional stream.
    const sums = await client.sum();
    for (const n of [1, 2, 3]) await sums.requests.send({ n });
    sums.requests.close();
    for await (const { sum } of sums.responses) output.push(`sum ${sum}`);
    // #endregion bidi
    // #endregion call
  } finally {
    await Promise.all(managers.map((manager) => manager.close()));
  }
  return output;
}

// Run directly (`node dist/main.js`), or import main() from a test.
if (process.argv[1] === fileURLToPath(import.meta.url)) console.log((await main()).join("\n"));
