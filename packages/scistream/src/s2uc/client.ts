/**
 * S2UC: the client library for an S2CS (ours or the reference). Calls go to `scistream.Control`
 * (the reference's wire names) unless `service: "SciStreamControl"` is chosen.
 */
import * as grpc from "@grpc/grpc-js";
import { grpcVerifyOptions } from "@x/cert-validate";
import { ConfigError, ERROR_CODE_TRAILER, isSeedErrorCode, RpcError, seedCodeForStatus } from "../errors.js";
import {
  type AppResponse,
  ControlClient,
  type Response as RespMessage,
  SciStreamControlClient,
} from "../gen/scistream.js";
import { generateUid } from "../uid.js";

export interface S2ucOptions {
  /** "host:port" of the S2CS. */
  readonly address: string;
  /** PEM roots that sign the S2CS certificate (a pinned self-signed certificate works too). */
  readonly ca?: string | Buffer;
  /** Client certificate and key, for an S2CS that requires mutual TLS. */
  readonly cert?: string | Buffer;
  readonly key?: string | Buffer;
  /** Name to verify in the S2CS certificate when `address` is an IP or differs from the certificate. */
  readonly serverName?: string;
  /**
   * Ready-made channel credentials (for example from `@x/cert-validate`'s gRPC adapter). When set,
   * `ca`, `cert` and `key` are ignored.
   */
  readonly credentials?: grpc.ChannelCredentials;
  /**
   * Re-validate the S2CS certificate with `@x/cert-validate`'s strict SciStream policy (RFC 5280
   * path, serverAuth EKU, host/IP) on top of OpenSSL's check (default true when `ca` is given).
   */
  readonly strictCertificateValidation?: boolean;
  /** Plaintext gRPC (only for an S2CS started with `--ssl=False`). */
  readonly insecure?: boolean;
  /** Access token sent in `authorization` metadata. */
  readonly token?: string;
  /** Prefix the token with "Bearer " (default false: the reference sends the raw token). */
  readonly bearer?: boolean;
  /** Deadline per RPC (default 30 s; `req` waits for the hello, so it gets `reqDeadlineMs`). */
  readonly deadlineMs?: number;
  /** Deadline of `req` (default 200 s: the reference S2CS waits up to 180 s for the hello). */
  readonly reqDeadlineMs?: number;
  readonly service?: "Control" | "SciStreamControl";
}

export interface ReqParams {
  readonly uid: string;
  readonly role: "PROD" | "CONS";
  readonly numConn: number;
  readonly rate?: number;
}

export interface SessionResult {
  readonly uid: string;
  /** S2DS listeners of this facility ("ip:port"). */
  readonly listeners: string[];
  /** Producer endpoints: from the hello (req) or the expanded targets (update). */
  readonly prodListeners: string[];
}

type Unary<Req, Res> = (
  request: Req,
  metadata: grpc.Metadata,
  options: Partial<grpc.CallOptions>,
  callback: (error: grpc.ServiceError | null, response: Res) => void,
) => grpc.ClientUnaryCall;

export class S2ucClient {
  private readonly client: grpc.Client;
  private readonly calls: {
    req: Unary<unknown, RespMessage>;
    update: Unary<unknown, RespMessage>;
    release: Unary<unknown, RespMessage>;
    hello: Unary<unknown, AppResponse>;
  };

  constructor(private readonly options: S2ucOptions) {
    const credentials = this.credentials();
    const channelOptions: grpc.ChannelOptions = {
      "grpc.max_receive_message_length": 1024 * 1024,
      ...(options.serverName === undefined
        ? {}
        : {
            "grpc.ssl_target_name_override": options.serverName,
            "grpc.default_authority": options.serverName,
          }),
    };
    if (options.service === "SciStreamControl") {
      const c = new SciStreamControlClient(options.address, credentials, channelOptions);
      this.client = c;
      this.calls = {
        req: c.requestStream.bind(c) as Unary<unknown, RespMessage>,
        update: c.updateTargets.bind(c) as Unary<unknown, RespMessage>,
        release: c.releaseStream.bind(c) as Unary<unknown, RespMessage>,
        hello: c.hello.bind(c) as Unary<unknown, AppResponse>,
      };
    } else {
      const c = new ControlClient(options.address, credentials, channelOptions);
      this.client = c;
      this.calls = {
        req: c.req.bind(c) as Unary<unknown, RespMessage>,
        update: c.update.bind(c) as Unary<unknown, RespMessage>,
        release: c.release.bind(c) as Unary<unknown, RespMessage>,
        hello: c.hello.bind(c) as Unary<unknown, AppResponse>,
      };
    }
  }

  private credentials(): grpc.ChannelCredentials {
    const o = this.options;
    if (o.credentials !== undefined) return o.credentials;
    if (o.insecure === true) return grpc.credentials.createInsecure();
    if ((o.cert === undefined) !== (o.key === undefined)) throw new ConfigError("cert and key go together");
    const strict = o.ca !== undefined && o.strictCertificateValidation !== false;
    return grpc.credentials.createSsl(
      o.ca === undefined ? null : Buffer.from(o.ca),
      o.key === undefined ? null : Buffer.from(o.key),
      o.cert === undefined ? null : Buffer.from(o.cert),
      strict
        ? grpcVerifyOptions({
            kind: "sttp",
            policy: {
              anchors: [Buffer.from(o.ca!).toString("utf8")],
              purpose: "serverAuth",
              ...(o.serverName === undefined ? {} : { host: o.serverName }),
            },
          })
        : undefined,
    );
  }

  private metadata(): grpc.Metadata {
    const md = new grpc.Metadata();
    const token = this.options.token;
    // The reference client sends the literal INVALID_TOKEN when it has no token; we send nothing.
    if (token !== undefined && token !== "")
      md.set("authorization", this.options.bearer ? `Bearer ${token}` : token);
    return md;
  }

  private invoke<Res>(
    method: keyof S2ucClient["calls"],
    request: unknown,
    deadlineMs?: number,
    signal?: AbortSignal,
  ): Promise<Res> {
    const fn = this.calls[method] as Unary<unknown, Res>;
    const ms = deadlineMs ?? this.options.deadlineMs ?? 30_000;
    return new Promise<Res>((resolve, reject) => {
      const onAbort = () => call.cancel();
      const call = fn(request, this.metadata(), { deadline: Date.now() + ms }, (error, response) => {
        signal?.removeEventListener("abort", onAbort);
        if (error === null) resolve(response);
        else reject(toRpcError(method, error));
      });
      if (signal?.aborted === true) call.cancel();
      else signal?.addEventListener("abort", onAbort, { once: true });
    });
  }

  /** REQUEST. Against the reference (and ours by default) this returns only after the session's hello. */
  req(params: ReqParams, signal?: AbortSignal): Promise<RespMessage> {
    return this.invoke(
      "req",
      { uid: params.uid, role: params.role, numConn: params.numConn, rate: params.rate ?? 0 },
      this.options.reqDeadlineMs ?? 200_000,
      signal,
    );
  }

  hello(
    params: { uid: string; role: string; prodListeners?: readonly string[] },
    signal?: AbortSignal,
  ): Promise<AppResponse> {
    return this.invoke(
      "hello",
      { uid: params.uid, role: params.role, prodListeners: [...(params.prodListeners ?? [])] },
      undefined,
      signal,
    );
  }

  update(params: { uid: string; role: string; remoteListeners: readonly string[] }): Promise<RespMessage> {
    return this.invoke("update", {
      uid: params.uid,
      role: params.role,
      remoteListeners: [...params.remoteListeners],
    });
  }

  release(uid: string): Promise<RespMessage> {
    return this.invoke("release", { uid });
  }

  /**
   * Producer side (`s2uc inbound-request`): req(PROD), hello(PROD, receivers), update(PROD, prod
   * listeners). The hello is sent while req waits for it, as the reference client does.
   */
  async inboundRequest(params: {
    uid?: string;
    numConn: number;
    rate?: number;
    receivers: readonly string[];
  }): Promise<SessionResult> {
    const uid = params.uid ?? generateUid();
    const [reqResult] = await this.reqAndHello(
      { uid, role: "PROD", numConn: params.numConn, rate: params.rate ?? 0 },
      { uid, role: "PROD", prodListeners: params.receivers },
    );
    const prod = reqResult.prodListeners.length > 0 ? reqResult.prodListeners : [...params.receivers];
    const updated = await this.update({ uid, role: "PROD", remoteListeners: prod });
    return { uid, listeners: updated.listeners, prodListeners: updated.prodListeners };
  }

  /**
   * Consumer side (`s2uc outbound-request UID PROD_LSTN`): req(CONS), hello (role PROD, like the
   * reference), update(CONS, producer S2DS listeners).
   */
  async outboundRequest(params: {
    uid: string;
    remoteListeners: readonly string[];
    numConn: number;
    rate?: number;
    receivers?: readonly string[];
  }): Promise<SessionResult> {
    const { uid } = params;
    await this.reqAndHello(
      { uid, role: "CONS", numConn: params.numConn, rate: params.rate ?? 0 },
      { uid, role: "PROD", prodListeners: params.receivers ?? [] },
    );
    const updated = await this.update({ uid, role: "CONS", remoteListeners: params.remoteListeners });
    return { uid, listeners: updated.listeners, prodListeners: updated.prodListeners };
  }

  /**
   * Sends req and hello concurrently (req blocks until the hello on the reference). If either
   * fails, the other is cancelled so nothing is left waiting on the server.
   */
  async reqAndHello(
    req: ReqParams,
    hello: { uid: string; role: string; prodListeners: readonly string[] },
  ): Promise<[RespMessage, AppResponse]> {
    const abort = new AbortController();
    const reqPromise = this.req(req, abort.signal);
    const helloPromise = this.helloWithRetry(hello, abort.signal);
    reqPromise.catch(() => abort.abort());
    helloPromise.catch(() => abort.abort());
    return settleBoth(reqPromise, helloPromise);
  }

  /** The reference S2CS refuses a hello before its req: retry a few times, 0.5 s apart. */
  private async helloWithRetry(
    params: { uid: string; role: string; prodListeners: readonly string[] },
    signal: AbortSignal,
  ): Promise<AppResponse> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.hello(params, signal);
      } catch (err) {
        const notYet =
          err instanceof RpcError &&
          (err.grpcStatus === grpc.status.NOT_FOUND || err.grpcStatus === grpc.status.UNKNOWN);
        if (!notYet || attempt >= 20 || signal.aborted) throw err;
        await new Promise((r) => setTimeout(r, 500));
      }
    }
  }

  close(): void {
    this.client.close();
  }
}

/** Waits for both; rejects with the first failure only after both settled (no dangling call). */
async function settleBoth<A, B>(a: Promise<A>, b: Promise<B>): Promise<[A, B]> {
  const [ra, rb] = await Promise.allSettled([a, b]);
  if (ra.status === "rejected") throw ra.reason;
  if (rb.status === "rejected") throw rb.reason;
  return [ra.value, rb.value];
}

function toRpcError(method: string, error: grpc.ServiceError): RpcError {
  const trailer = error.metadata?.get(ERROR_CODE_TRAILER)[0];
  const text = typeof trailer === "string" ? trailer : trailer?.toString("utf8");
  const seedCode = text !== undefined && isSeedErrorCode(text) ? text : seedCodeForStatus(error.code);
  return new RpcError(method, error.code, seedCode, error.details || error.message, { cause: error });
}
