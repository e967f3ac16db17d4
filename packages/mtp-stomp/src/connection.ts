/**
 * One STOMP 1.2 client connection to a broker over TCP or TLS: the `STOMP` handshake, heart-beats
 * in both directions, receipts, ERROR frames and a graceful DISCONNECT. It knows nothing about USP
 * beyond the `endpoint-id` header; the MTP (`mtp.ts`) builds on it and reconnects.
 */
import { EventEmitter } from "node:events";
import { isIP, type Socket, connect as tcpConnect } from "node:net";
import { type ConnectionOptions, type TLSSocket, connect as tlsConnect } from "node:tls";
import { secureTlsOptions, type TlsPeerPolicy, verifyTlsPeer } from "@x/cert-validate";
import { MtpError } from "@x/usp-record/mtp";
import { StompConnectError, StompHeartbeatError, StompServerError } from "./errors.js";
import { encodeFrameHead, HEARTBEAT, type HeaderInput, NUL_BYTE, type StompFrame } from "./frame.js";
import {
  formatHeartbeat,
  type HeartbeatValues,
  type NegotiatedHeartbeat,
  negotiateHeartbeat,
  parseHeartbeat,
} from "./heartbeat.js";
import { FrameParser, type FrameParserLimits } from "./parser.js";

/** TLS to the broker. Verification is on; every relaxation is explicit. */
export interface StompTlsOptions {
  /** Trust anchors (PEM). Default: Node's bundled CAs. */
  readonly ca?: string | Buffer | ReadonlyArray<string | Buffer> | undefined;
  /** Client certificate chain and key (PEM) for certificate authentication (R-STOMP.3). */
  readonly cert?: string | Buffer | undefined;
  readonly key?: string | Buffer | undefined;
  /** SNI and the name checked against the certificate. Default: `host` when it is a DNS name. */
  readonly servername?: string | undefined;
  /** Minimum TLS version (default and floor: TLSv1.2, R-MTP.0). */
  readonly minVersion?: "TLSv1.2" | "TLSv1.3" | undefined;
  /**
   * Validate the broker with `@x/cert-validate` instead of OpenSSL's verdict: path validation
   * against the policy's anchors, host/IP, EKU, R-MTP.2 "no accurate time", the TR-369 figure
   * (`kind: "usp"`, Trusted Broker entries). The chain is checked on `secureConnect`, before the
   * STOMP frame is written; `ca`/`servername` then play no part in the decision.
   */
  readonly peerPolicy?: TlsPeerPolicy | undefined;
  /**
   * Extra check after the chain was accepted (by Node or by `peerPolicy`). Throw (or reject) to
   * refuse the broker.
   */
  readonly verifyPeer?: ((socket: TLSSocket) => void | Promise<void>) | undefined;
  /**
   * DANGEROUS: accept any broker certificate. Only for lab use; the MTP emits a warning `error`
   * event (`ERR_STOMP_TLS_UNVERIFIED`) on every connection made this way.
   */
  readonly insecureSkipVerify?: boolean | undefined;
  /** Passed through to `tls.connect` (ciphers, ALPN, ...); cannot turn verification off. */
  readonly extra?: Omit<ConnectionOptions, "rejectUnauthorized" | "host" | "port"> | undefined;
}

export interface StompConnectionOptions {
  readonly host: string;
  readonly port: number;
  readonly tls?: StompTlsOptions | undefined;
  /** Our Endpoint ID, sent escaped as `endpoint-id` (R-STOMP.4). */
  readonly endpointId: string;
  readonly login?: string | undefined;
  readonly passcode?: string | undefined;
  /** Sent as `host` only when set (R-STOMP.5; RabbitMQ refuses an empty or unknown vhost). */
  readonly virtualHost?: string | undefined;
  /** Heart-beats to offer (R-STOMP.10). Omitted from the STOMP frame when undefined or 0,0 (R-STOMP.9). */
  readonly heartbeat?: HeartbeatValues | undefined;
  /** The server is declared dead after `expectEveryMs × heartbeatGrace` of silence (default 2). */
  readonly heartbeatGrace?: number | undefined;
  /** Time for TCP/TLS and CONNECTED, ms (default 15000). */
  readonly connectTimeoutMs?: number | undefined;
  readonly limits?: FrameParserLimits | undefined;
  readonly signal?: AbortSignal | undefined;
}

export interface StompConnectionEvents {
  /** Every frame after CONNECTED (MESSAGE, RECEIPT, ERROR, ...). */
  frame: [frame: StompFrame];
  /** The connection is gone. `reason` is undefined after our own graceful disconnect. */
  close: [reason: MtpError | undefined];
}

/** Bodies up to this size are copied into one buffer with their head; larger ones are written as is. */
const SMALL_BODY_BYTES = 16 * 1024;

interface PendingReceipt {
  resolve: (frame: StompFrame) => void;
  reject: (error: MtpError) => void;
  /** Epoch ms after which the request fails with ERR_MTP_TIMEOUT. */
  deadline: number;
  command: string;
  timeoutMs: number;
}

export class StompConnection extends EventEmitter<StompConnectionEvents> {
  readonly #socket: Socket;
  readonly #parser: FrameParser;
  readonly #receipts = new Map<string, PendingReceipt>();
  #receiptCounter = 0;
  #closed = false;
  #closeReason: MtpError | undefined;
  #lastRead = Date.now();
  #lastWrite = Date.now();
  #sendTimer: NodeJS.Timeout | undefined;
  #readTimer: NodeJS.Timeout | undefined;
  /** One sweeping timer for all receipt deadlines (a timer per SEND would cost more than the SEND). */
  #receiptTimer: NodeJS.Timeout | undefined;
  #onHandshakeFrame: ((frame: StompFrame) => void) | undefined;
  #disconnecting = false;
  connectedFrame: StompFrame | undefined;
  heartbeat: NegotiatedHeartbeat = { sendEveryMs: 0, expectEveryMs: 0 };

  private constructor(socket: Socket, limits: FrameParserLimits | undefined) {
    super();
    this.#socket = socket;
    this.#parser = new FrameParser(
      (frame) => this.#dispatch(frame),
      () => {},
      limits,
    );
    socket.on("data", (chunk: Buffer) => {
      this.#lastRead = Date.now();
      try {
        this.#parser.push(chunk);
      } catch (error) {
        this.destroy(error instanceof MtpError ? error : new MtpError("ERR_MTP_PROTOCOL", String(error)));
      }
    });
    socket.on("error", (error) => {
      this.#closeReason ??= new MtpError("ERR_MTP_CONNECTION_LOST", `STOMP socket error: ${error.message}`, {
        cause: error,
      });
    });
    socket.on("close", () => this.#finish());
  }

  /** Opens TCP/TLS, sends `STOMP` and resolves on CONNECTED. Rejects with a typed error otherwise. */
  static connect(options: StompConnectionOptions): Promise<StompConnection> {
    return new Promise<StompConnection>((resolve, reject) => {
      const timeoutMs = options.connectTimeoutMs ?? 15_000;
      let settled = false;
      let connection: StompConnection | undefined;
      const fail = (error: MtpError): void => {
        if (settled) return;
        settled = true;
        cleanup();
        connection?.destroy(error);
        reject(error);
      };
      const timer = setTimeout(
        () =>
          fail(
            new StompConnectError(`no CONNECTED from ${options.host}:${options.port} within ${timeoutMs} ms`),
          ),
        timeoutMs,
      );
      const onAbort = (): void =>
        fail(new MtpError("ERR_MTP_CLOSED", "connect aborted", { cause: options.signal?.reason }));
      const cleanup = (): void => {
        clearTimeout(timer);
        options.signal?.removeEventListener("abort", onAbort);
      };
      if (options.signal?.aborted) {
        onAbort();
        return;
      }
      options.signal?.addEventListener("abort", onAbort, { once: true });

      const sendStompFrame = (): void => {
        if (settled || !connection) return;
        connection.#onHandshakeFrame = (frame) => {
          connection!.#onHandshakeFrame = undefined;
          if (frame.command === "CONNECTED") {
            if (settled) return;
            settled = true;
            cleanup();
            connection!.#startHeartbeat(frame, options);
            connection!.connectedFrame = frame;
            resolve(connection!);
          } else if (frame.command === "ERROR") {
            fail(serverError(frame));
          } else {
            fail(new StompConnectError(`expected CONNECTED, got ${frame.command}`));
          }
        };
        connection.write("STOMP", stompFrameHeaders(options));
      };

      let socket: Socket;
      const tls = options.tls;
      if (tls) {
        const tlsSocket = tlsConnect({
          ...tls.extra,
          host: options.host,
          port: options.port,
          servername: tls.servername ?? (isIP(options.host) === 0 ? options.host : undefined),
          ca: tls.ca as ConnectionOptions["ca"],
          cert: tls.cert,
          key: tls.key,
          minVersion: tls.minVersion ?? "TLSv1.2",
          rejectUnauthorized: tls.insecureSkipVerify !== true,
          // With a policy, @x/cert-validate is the gate (it also enforces TLS >= 1.2).
          ...(tls.peerPolicy ? secureTlsOptions(tls.peerPolicy, "client") : {}),
        });
        socket = tlsSocket;
        tlsSocket.once("secureConnect", () => {
          if (!tls.verifyPeer && !tls.peerPolicy) {
            sendStompFrame();
            return;
          }
          Promise.resolve()
            .then(() => {
              if (tls.peerPolicy) verifyTlsPeer(tlsSocket, tls.peerPolicy);
              return tls.verifyPeer?.(tlsSocket);
            })
            .then(sendStompFrame, (error: unknown) =>
              fail(
                new MtpError("ERR_MTP_TLS", `broker certificate refused: ${errorMessage(error)}`, {
                  cause: error,
                }),
              ),
            );
        });
      } else {
        socket = tcpConnect({ host: options.host, port: options.port });
        socket.once("connect", sendStompFrame);
      }
      socket.setNoDelay(true);
      connection = new StompConnection(socket, options.limits);
      connection.once("close", (reason) => {
        const tlsFailure =
          tls &&
          reason?.cause instanceof Error &&
          /certificate|SSL|TLS|self.signed|altname/i.test(reason.cause.message);
        fail(
          tlsFailure
            ? new MtpError(
                "ERR_MTP_TLS",
                `TLS to ${options.host}:${options.port} failed: ${reason.message}`,
                {
                  cause: reason.cause,
                },
              )
            : reason instanceof StompServerError || reason instanceof StompConnectError
              ? reason
              : new StompConnectError(
                  `connection to ${options.host}:${options.port} closed before CONNECTED${reason ? `: ${reason.message}` : ""}`,
                  { cause: reason },
                ),
        );
      });
    });
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Bytes queued in the socket but not yet written (for back-pressure decisions). */
  get writableLength(): number {
    return this.#socket.writableLength;
  }

  /** Writes one frame. Throws `ERR_MTP_NOT_OPEN` when the connection is closed. */
  write(command: string, headers: HeaderInput, body?: Uint8Array): void {
    if (this.#closed || this.#socket.destroyed) {
      throw new MtpError("ERR_MTP_NOT_OPEN", "the STOMP connection is closed", { cause: this.#closeReason });
    }
    const head = encodeFrameHead(command, headers, body?.byteLength ?? 0);
    this.#lastWrite = Date.now();
    if (body && body.byteLength > 0 && body.byteLength <= SMALL_BODY_BYTES) {
      // One copy beats a three-buffer writev for small Records.
      this.#socket.write(Buffer.concat([head, body, NUL_BYTE], head.length + body.byteLength + 1));
    } else if (body && body.byteLength > 0) {
      this.#socket.cork();
      this.#socket.write(head);
      this.#socket.write(body);
      this.#socket.write(NUL_BYTE);
      this.#socket.uncork();
    } else {
      this.#socket.write(Buffer.concat([head, NUL_BYTE]));
    }
  }

  /**
   * Writes a frame with a `receipt` header and resolves when the broker's RECEIPT arrives.
   * Rejects if the connection closes first (`ERR_MTP_CONNECTION_LOST`), on ERROR, or on timeout.
   */
  request(
    command: string,
    headers: ReadonlyArray<readonly [string, string]>,
    body?: Uint8Array,
    timeoutMs = 30_000,
  ): Promise<StompFrame> {
    const id = `r-${++this.#receiptCounter}`;
    return new Promise<StompFrame>((resolve, reject) => {
      const limit = timeoutMs > 0 && Number.isFinite(timeoutMs) ? timeoutMs : 2 ** 31 - 1;
      const pending: PendingReceipt = {
        resolve,
        reject,
        deadline: Date.now() + limit,
        command,
        timeoutMs: limit,
      };
      this.#receipts.set(id, pending);
      try {
        this.write(command, [...headers, ["receipt", id]], body);
      } catch (error) {
        this.#receipts.delete(id);
        reject(error);
        return;
      }
      this.#armReceiptTimer(limit);
    });
  }

  #armReceiptTimer(limit: number): void {
    if (this.#receiptTimer) return;
    const period = Math.max(5, Math.min(1000, Math.floor(limit / 4)));
    this.#receiptTimer = setInterval(() => {
      const now = Date.now();
      for (const [id, pending] of this.#receipts) {
        if (pending.deadline > now) continue;
        this.#receipts.delete(id);
        pending.reject(
          new MtpError("ERR_MTP_TIMEOUT", `no RECEIPT for ${pending.command} within ${pending.timeoutMs} ms`),
        );
      }
      if (this.#receipts.size === 0) {
        clearInterval(this.#receiptTimer);
        this.#receiptTimer = undefined;
      }
    }, period);
    this.#receiptTimer.unref();
  }

  /** Graceful DISCONNECT (with receipt, bounded wait), then closes the socket. */
  async disconnect(timeoutMs = 5_000): Promise<void> {
    if (this.#closed) return;
    this.#disconnecting = true;
    try {
      await this.request("DISCONNECT", [], undefined, timeoutMs);
    } catch {
      // The broker may close without a RECEIPT; nothing is lost by ending anyway.
    }
    this.#closeGracefully();
  }

  /** Drops the connection at once. `reason` is reported in `close` and to pending receipts. */
  destroy(reason?: MtpError): void {
    if (reason) this.#closeReason ??= reason;
    this.#socket.destroy();
    // 'close' follows asynchronously; settle the state now so callers see it immediately.
    this.#finish();
  }

  #closeGracefully(): void {
    this.#socket.end();
    const timer = setTimeout(() => this.#socket.destroy(), 2_000);
    timer.unref();
    this.#finish();
  }

  #finish(): void {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#sendTimer);
    clearInterval(this.#readTimer);
    clearInterval(this.#receiptTimer);
    this.#receiptTimer = undefined;
    if (!this.#disconnecting && !this.#closeReason) {
      try {
        this.#parser.end();
      } catch (error) {
        this.#closeReason = error as MtpError;
      }
    }
    const reason =
      this.#closeReason ??
      (this.#disconnecting
        ? undefined
        : new MtpError("ERR_MTP_CONNECTION_LOST", "the broker closed the connection"));
    const lost = new MtpError(
      "ERR_MTP_CONNECTION_LOST",
      "the STOMP connection closed before the RECEIPT arrived",
      {
        cause: reason,
      },
    );
    for (const [id, pending] of this.#receipts) {
      this.#receipts.delete(id);
      pending.reject(reason instanceof StompServerError ? reason : lost);
    }
    this.emit("close", reason);
  }

  #dispatch(frame: StompFrame): void {
    if (this.#onHandshakeFrame) {
      this.#onHandshakeFrame(frame);
      return;
    }
    if (frame.command === "RECEIPT") {
      const id = frame.headers.get("receipt-id");
      const pending = id === undefined ? undefined : this.#receipts.get(id);
      if (pending && id !== undefined) {
        this.#receipts.delete(id);
        pending.resolve(frame);
        return;
      }
    } else if (frame.command === "ERROR") {
      // The server closes after ERROR (STOMP 1.2); fail everything in flight with this error.
      const error = serverError(frame);
      this.emit("frame", frame);
      this.destroy(error);
      return;
    }
    this.emit("frame", frame);
  }

  #startHeartbeat(connected: StompFrame, options: StompConnectionOptions): void {
    const offered = options.heartbeat ?? { outgoingMs: 0, incomingMs: 0 };
    this.heartbeat = negotiateHeartbeat(offered, parseHeartbeat(connected.headers.get("heart-beat")));
    const { sendEveryMs, expectEveryMs } = this.heartbeat;
    if (sendEveryMs > 0) {
      // Beat once we have been quiet for half the period, checked every quarter: the broker then
      // sees at most 3/4 of the period without a byte even when our timer fires late, which
      // leaves room for brokers (ActiveMQ) that allow little or no grace on their side.
      const idleMs = Math.max(1, Math.floor(sendEveryMs / 2));
      this.#sendTimer = setInterval(
        () => {
          if (this.#closed) return;
          if (Date.now() - this.#lastWrite >= idleMs) {
            this.#lastWrite = Date.now();
            this.#socket.write(HEARTBEAT);
          }
        },
        Math.max(1, Math.floor(sendEveryMs / 4)),
      );
      this.#sendTimer.unref();
    }
    if (expectEveryMs > 0) {
      const limit = expectEveryMs * (options.heartbeatGrace ?? 2);
      const silentTooLong = () => !this.#closed && Date.now() - this.#lastRead > limit;
      this.#readTimer = setInterval(
        () => {
          // Timers run before pending socket reads. After our own process stalled (GC, a busy
          // CPU) the broker's beats may be waiting unread, so give the I/O phase one turn before
          // declaring the broker dead.
          if (silentTooLong())
            setImmediate(() => {
              if (silentTooLong()) this.destroy(new StompHeartbeatError(limit));
            });
        },
        Math.max(1, Math.floor(expectEveryMs / 2)),
      );
      this.#readTimer.unref();
    }
  }
}

function stompFrameHeaders(options: StompConnectionOptions): Array<readonly [string, string]> {
  const headers: Array<readonly [string, string]> = [["accept-version", "1.2"]];
  if (options.virtualHost !== undefined && options.virtualHost !== "")
    headers.push(["host", options.virtualHost]);
  const hb = options.heartbeat;
  if (hb && (hb.outgoingMs > 0 || hb.incomingMs > 0)) headers.push(["heart-beat", formatHeartbeat(hb)]);
  headers.push(["endpoint-id", options.endpointId]);
  if (options.login !== undefined) headers.push(["login", options.login]);
  if (options.passcode !== undefined) headers.push(["passcode", options.passcode]);
  return headers;
}

function serverError(frame: StompFrame): StompServerError {
  return new StompServerError(
    frame.headers.get("message"),
    Buffer.from(frame.body).toString("utf8"),
    frame.headers.get("receipt-id"),
  );
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
