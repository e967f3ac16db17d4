import * as grpc from "@grpc/grpc-js";
import { createPki, type Pki } from "@x/test-certs";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { grpcVerifyOptions, type TlsPeerPolicy } from "../src/index.js";

let pki: Pki;
beforeAll(async () => {
  pki = await createPki();
}, 60_000);

const identity = (b: Buffer) => b;
const echoService = {
  echo: {
    path: "/test.Echo/Echo",
    requestStream: false,
    responseStream: false,
    requestSerialize: identity,
    requestDeserialize: identity,
    responseSerialize: identity,
    responseDeserialize: identity,
  },
} satisfies grpc.ServiceDefinition;

const stops: (() => void)[] = [];
afterEach(() => {
  while (stops.length) stops.pop()!();
});

async function echoServer(): Promise<number> {
  const server = new grpc.Server();
  server.addService(echoService, {
    echo: (call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) =>
      cb(null, call.request),
  });
  const creds = grpc.ServerCredentials.createSsl(null, [
    { private_key: Buffer.from(pki.controller.keyPem), cert_chain: Buffer.from(pki.controller.chainPem) },
  ]);
  const port = await new Promise<number>((res, rej) =>
    server.bindAsync("127.0.0.1:0", creds, (err, p) => (err ? rej(err) : res(p))),
  );
  stops.push(() => server.forceShutdown());
  return port;
}

function call(port: number, policy: TlsPeerPolicy): Promise<string> {
  const Client = grpc.makeGenericClientConstructor(echoService, "Echo");
  const creds = grpc.credentials.createSsl(
    Buffer.from(pki.root.certPem),
    null,
    null,
    grpcVerifyOptions(policy),
  );
  const client = new Client(`127.0.0.1:${port}`, creds) as unknown as grpc.Client & {
    echo: (
      req: Buffer,
      opts: grpc.CallOptions,
      cb: (e: grpc.ServiceError | null, r?: Buffer) => void,
    ) => void;
  };
  stops.push(() => client.close());
  return new Promise((res, rej) =>
    client.echo(Buffer.from("ping"), { deadline: Date.now() + 4000 }, (err, reply) =>
      err ? rej(err) : res(reply!.toString()),
    ),
  );
}

const usp = (target: Record<string, string>): TlsPeerPolicy => ({
  kind: "usp",
  context: { initiatedBySelf: true, target, time: new Date(), anchors: [pki.root.certPem] },
});

describe("grpcVerifyOptions with a real @grpc/grpc-js channel over TLS", () => {
  it("accepts the server when the policy passes (IP literal target)", async () => {
    const port = await echoServer();
    expect(await call(port, usp({ host: "127.0.0.1", endpointId: "proto::controller" }))).toBe("ping");
  });
  it("defaults the expected host to the gRPC target for STTP/path policies", async () => {
    const port = await echoServer();
    expect(await call(port, { kind: "sttp", policy: { anchors: [pki.root.certPem] } })).toBe("ping");
  });
  it("tightens: a wrong Controller Endpoint ID fails the call", async () => {
    const port = await echoServer();
    await expect(
      call(port, usp({ host: "controller.example", endpointId: "proto::someone-else" })),
    ).rejects.toMatchObject({
      code: grpc.status.UNAVAILABLE,
    });
  });
  it("tightens: pinning another certificate fails the call", async () => {
    const port = await echoServer();
    await expect(
      call(port, {
        kind: "sttp",
        policy: { anchors: [{ fingerprint: `sha256:${pki.server.fingerprint256}` }] },
      }),
    ).rejects.toMatchObject({ code: grpc.status.UNAVAILABLE });
  });
});
