/**
 * Emits a service's API: its handler ids, the server interface to implement, the function that
 * registers an implementation, and the typed client.
 */
import { DEFAULT_IN_CAPACITY } from "../../runtime/handlers/handler-registry.js";
import { clientName, codecName, handlerIdName, outputImportPath, registerName, runtimeModule, serverName } from "../model/names.js";
import type { Handler, MessageRef, ServiceDecl } from "../model/schema.js";
import { refName } from "./type-text.js";
import type { TypeScope } from "./type-text.js";

/** Input capacity when a stream has `in` but no `inCapacity` (docs/IDL.md): the runtime's constant. */
export const defaultInCapacity = DEFAULT_IN_CAPACITY;

export function emitService(scope: TypeScope, service: ServiceDecl): void {
  emitHandlerIds(scope, service);
  emitServer(scope, service);
  emitRegister(scope, service);
  emitClient(scope, service);
}

function emitHandlerIds(scope: TypeScope, service: ServiceDecl): void {
  const { f } = scope;
  const name = handlerIdName(service.name);
  f.print(`/** Handler ids of ${service.name}: stable forever; a changed handler gets a new id. */`);
  f.print(`export const ${name} = {`);
  for (const h of service.handlers) f.print(`  ${h.name}: ${h.id},`);
  f.print("} as const;");
  f.print(`export type ${name} = (typeof ${name})[keyof typeof ${name}];`, "");
}

const typeName = (scope: TypeScope, m: MessageRef): string => refName(scope, m);

function codec(scope: TypeScope, m: MessageRef): string {
  const name = codecName(m.name);
  return m.file === scope.file ? name : scope.f.value(name, outputImportPath(m.file));
}

function emitServer(scope: TypeScope, service: ServiceDecl): void {
  const { f } = scope;
  const ctx = f.type("HandlerContext", runtimeModule);
  f.doc(service.doc ? `${service.doc}\n\nImplement this, then serve it with \`${registerName(service.name)}\`.` : `Implement this, then serve it with \`${registerName(service.name)}\`.`);
  f.print(`export interface ${serverName(service.name)} {`);
  for (const h of service.handlers) {
    f.doc(h.doc, "  ");
    if (h.kind === "single") {
      const res = typeName(scope, h.response);
      const req = h.request ? `req: ${typeName(scope, h.request)}, ` : "";
      f.print(`  ${h.name}(${req}ctx: ${ctx}): Promise<${res}> | ${res};`);
    } else {
      const params: string[] = [];
      if (h.payload) params.push(`req: ${typeName(scope, h.payload)}`);
      if (h.input) params.push(`input: AsyncIterable<${typeName(scope, h.input)}>`);
      params.push(`ctx: ${ctx}`);
      f.print(`  ${h.name}(${params.join(", ")}): AsyncIterable<${typeName(scope, h.output)}>;`);
    }
  }
  f.print("}", "");
}

function emitRegister(scope: TypeScope, service: ServiceDecl): void {
  const { f } = scope;
  const ids = handlerIdName(service.name);
  const registrar = f.type("HandlerRegistrar", runtimeModule);
  const options = f.type("RegisterOptions", runtimeModule);
  f.print(
    `/**`,
    ` * Serves \`impl\` on \`registrar\` (a Manager, or a HandlerRegistry). Every payload is decoded and`,
    ` * validated before \`impl\` sees it; one that does not match the schema fails the call with`,
    ` * InvalidPayloadError and \`impl\` is not called.`,
    ` */`,
  );
  f.print(`export function ${registerName(service.name)}(registrar: ${registrar}, impl: ${serverName(service.name)}, opts: ${options} = {}): void {`);
  f.print("  const { subroute } = opts;");
  for (const h of service.handlers) emitRegisterHandler(scope, ids, h, `${service.name}.${h.name}`);
  f.print("}", "");
}

/** `name`: the handler's name in errors, logs and interceptors (`Locker.lock`). */
function emitRegisterHandler(scope: TypeScope, ids: string, h: Handler, name: string): void {
  const { f } = scope;
  if (h.kind === "single") {
    // Not an async wrapper: an implementation that answers synchronously gets the mux's
    // synchronous path (no promise, no table entry); a thrown error fails the call the same way.
    const res = codec(scope, h.response);
    f.print(
      `  registrar.registerSingle(`,
      `    ${ids}.${h.name},`,
      h.request ? `    (payload, ctx) => {` : `    (_payload, ctx) => {`,
      `      const res = impl.${h.name}(${h.request ? `${codec(scope, h.request)}.decode(payload), ` : ""}ctx);`,
      `      return res instanceof Promise ? res.then((r) => ${res}.encode(r)) : ${res}.encode(res);`,
      `    },`,
      `    { subroute, name: ${JSON.stringify(name)} },`,
      `  );`,
    );
    return;
  }
  const serve = f.value("serveStream", runtimeModule);
  const args: string[] = [];
  if (h.payload) args.push(`${codec(scope, h.payload)}.decode(payload)`);
  if (h.input) args.push(`${f.value("decodeInput", runtimeModule)}(input, ${codec(scope, h.input)}.decode)`);
  args.push("ctx");
  const opts: string[] = [];
  if (h.input) opts.push(`inCapacity: ${h.inCapacity ?? defaultInCapacity}`);
  if (h.outCapacity !== undefined) opts.push(`outCapacity: ${h.outCapacity}`);
  opts.push("subroute", `name: ${JSON.stringify(name)}`);
  const params = `${h.payload ? "payload" : "_payload"}, ${h.input ? "input" : "_input"}, ctx`;
  f.print(
    `  registrar.registerStream(`,
    `    ${ids}.${h.name},`,
    `    (${params}) => ${serve}(() => impl.${h.name}(${args.join(", ")}), ${codec(scope, h.output)}.encode),`,
    `    { ${opts.join(", ")} },`,
    `  );`,
  );
}

function emitClient(scope: TypeScope, service: ServiceDecl): void {
  const { f } = scope;
  const ids = handlerIdName(service.name);
  const caller = f.type("Caller", runtimeModule);
  const callOptions = f.type("CallOptions", runtimeModule);
  f.doc(
    `${service.doc ? `${service.doc}\n\n` : ""}The typed client of ${service.name}: \`new ${clientName(service.name)}(manager.connection(host))\`.\nEvery response is validated; one that does not match the schema throws InvalidPayloadError.`,
  );
  f.print(`export class ${clientName(service.name)} {`);
  f.print(`  readonly #caller: ${caller};`, "");
  f.print(
    `  constructor(caller: ${caller}) {`,
    "    this.#caller = caller;",
    `    caller.nameHandlers?.(${JSON.stringify(service.name)}, ${ids});`,
    "  }",
  );
  for (const h of service.handlers) {
    f.print("");
    f.doc(h.doc, "  ");
    if (h.kind === "single") {
      // Not an async method: requestTyped encodes, requests and decodes with one promise per
      // call. A handler without a request sends an empty payload (its server ignores it).
      const call = h.request
        ? `${f.value("requestTyped", runtimeModule)}(this.#caller, ${ids}.${h.name}, ${codec(scope, h.request)}, req, ${codec(scope, h.response)}, opts)`
        : `${f.value("requestTypedEmpty", runtimeModule)}(this.#caller, ${ids}.${h.name}, ${codec(scope, h.response)}, opts)`;
      f.print(
        `  ${h.name}(${h.request ? `req: ${typeName(scope, h.request)}, ` : ""}opts?: ${callOptions}): Promise<${typeName(scope, h.response)}> {`,
        `    return ${call};`,
        "  }",
      );
      continue;
    }
    const payloadParam = h.payload ? `req: ${typeName(scope, h.payload)}, ` : "";
    const payloadArg = h.payload ? `${codec(scope, h.payload)}.encode(req)` : "undefined";
    const out = typeName(scope, h.output);
    if (h.input) {
      const bidi = f.type("BidiStream", runtimeModule);
      f.print(
        `  async ${h.name}(${payloadParam}opts?: ${callOptions}): Promise<${bidi}<${typeName(scope, h.input)}, ${out}>> {`,
        `    const stream = await this.#caller.newStream(${ids}.${h.name}, ${payloadArg}, opts);`,
        `    return ${f.value("bidiStream", runtimeModule)}(stream, ${codec(scope, h.input)}.encode, ${codec(scope, h.output)}.decode);`,
        "  }",
      );
    } else {
      const serverStream = f.type("ServerStream", runtimeModule);
      f.print(
        `  async ${h.name}(${payloadParam}opts?: ${callOptions}): Promise<${serverStream}<${out}>> {`,
        `    const stream = await this.#caller.newStream(${ids}.${h.name}, ${payloadArg}, opts);`,
        `    return ${f.value("serverStream", runtimeModule)}(stream, ${codec(scope, h.output)}.decode);`,
        "  }",
      );
    }
  }
  f.print("}", "");
}
