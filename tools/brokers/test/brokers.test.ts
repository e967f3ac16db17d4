import net from "node:net";
import tls from "node:tls";
import { createPki, type Pki } from "@x/test-certs";
import mqttPacket from "mqtt-packet";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { processesMentioning, startActiveMq, startMosquitto, startRabbitMq } from "../src/index.js";

/** Opens a socket, sends `request`, resolves with what arrived once `done(text)` says so. */
function exchange(
  connect: () => net.Socket,
  request: Buffer,
  done: (received: Buffer) => boolean,
  timeoutMs = 20_000,
): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const socket = connect();
    let received = Buffer.alloc(0);
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no answer; got ${received.toString("latin1")}`));
    }, timeoutMs);
    socket.once("error", (error) => {
      clearTimeout(timer);
      reject(error);
    });
    socket.write(request);
    socket.on("data", (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      if (done(received)) {
        clearTimeout(timer);
        socket.destroy();
        resolve(received);
      }
    });
  });
}

function mqttConnect(protocolVersion: 4 | 5): Buffer {
  return mqttPacket.generate({
    cmd: "connect",
    protocolId: "MQTT",
    protocolVersion,
    clean: true,
    clientId: `probe-${protocolVersion}`,
    keepalive: 30,
  } as mqttPacket.IConnectPacket);
}

function parseConnack(bytes: Buffer, protocolVersion: 4 | 5): mqttPacket.IConnackPacket {
  const parser = mqttPacket.parser({ protocolVersion });
  let packet: mqttPacket.Packet | undefined;
  parser.on("packet", (p) => {
    packet = p;
  });
  parser.parse(bytes);
  if (packet?.cmd !== "connack") throw new Error("no CONNACK");
  return packet as mqttPacket.IConnackPacket;
}

const STOMP_CONNECT = Buffer.from(
  "STOMP\naccept-version:1.2\nhost:/\nlogin:guest\npasscode:guest\nendpoint-id:proto\\c\\cprobe\n\n\0",
  "latin1",
);

let pki: Pki;
beforeAll(async () => {
  pki = await createPki();
});

describe("Mosquitto", () => {
  it("speaks MQTT 5 and 3.1.1 over TCP and TLS, restarts on the same port, and leaves nothing behind", async () => {
    const broker = await startMosquitto({
      tls: { certPem: pki.server.chainPem, keyPem: pki.server.keyPem, caPem: pki.root.certPem },
    });
    try {
      for (const version of [4, 5] as const) {
        const answer = await exchange(
          () => net.connect(broker.port, broker.host),
          mqttConnect(version),
          (b) => b.length >= 4,
        );
        expect(parseConnack(answer, version).returnCode ?? parseConnack(answer, version).reasonCode).toBe(0);
      }
      const overTls = await exchange(
        () =>
          tls.connect({
            host: broker.host,
            port: broker.tlsPort!,
            ca: pki.root.certPem,
            servername: "localhost",
          }),
        mqttConnect(5),
        (b) => b.length >= 4,
      );
      expect(parseConnack(overTls, 5).reasonCode).toBe(0);

      expect(processesMentioning(broker.dir).length).toBeGreaterThan(0);
      await broker.kill();
      expect(processesMentioning(broker.dir)).toEqual([]);
      expect(broker.running).toBe(false);
      await expect(
        exchange(
          () => net.connect(broker.port, broker.host),
          mqttConnect(5),
          () => true,
          2000,
        ),
      ).rejects.toThrow();
      await broker.restart();
      const again = await exchange(
        () => net.connect(broker.port, broker.host),
        mqttConnect(5),
        (b) => b.length >= 4,
      );
      expect(parseConnack(again, 5).reasonCode).toBe(0);
    } finally {
      await broker.dispose();
    }
    expect(broker.running).toBe(false);
    expect(processesMentioning(broker.dir)).toEqual([]);
  });
});

describe("RabbitMQ (STOMP plugin)", () => {
  let broker: Awaited<ReturnType<typeof startRabbitMq>>;
  beforeAll(async () => {
    broker = await startRabbitMq({
      tls: { certPem: pki.server.chainPem, keyPem: pki.server.keyPem, caPem: pki.root.certPem },
    });
  });
  afterAll(async () => {
    await broker?.dispose();
  });

  it("answers a STOMP 1.2 frame with CONNECTED over TCP and TLS", async () => {
    const plain = await exchange(
      () => net.connect(broker.stompPort, broker.host),
      STOMP_CONNECT,
      (b) => b.includes(0),
    );
    expect(plain.toString("latin1")).toMatch(/^CONNECTED\n[\s\S]*version:1\.2/);
    const secure = await exchange(
      () =>
        tls.connect({
          host: broker.host,
          port: broker.stompTlsPort!,
          ca: pki.root.certPem,
          servername: "localhost",
        }),
      STOMP_CONNECT,
      (b) => b.includes(0),
    );
    expect(secure.toString("latin1")).toMatch(/^CONNECTED\n/);
  });

  it("stops its whole process tree", async () => {
    expect(processesMentioning(broker.dir).length).toBeGreaterThan(0);
    await broker.dispose();
    expect(broker.running).toBe(false);
    expect(processesMentioning(broker.dir)).toEqual([]);
    await expect(
      exchange(
        () => net.connect(broker.stompPort, broker.host),
        STOMP_CONNECT,
        () => true,
        2000,
      ),
    ).rejects.toThrow();
  });
});

describe("ActiveMQ", () => {
  it("answers a STOMP 1.2 frame with CONNECTED and restarts on the same port", async () => {
    const broker = await startActiveMq();
    try {
      const answer = await exchange(
        () => net.connect(broker.stompPort, broker.host),
        STOMP_CONNECT,
        (b) => b.includes(0),
      );
      expect(answer.toString("latin1")).toMatch(/^CONNECTED\n[\s\S]*version:1\.2/);
      await broker.restart();
      const again = await exchange(
        () => net.connect(broker.stompPort, broker.host),
        STOMP_CONNECT,
        (b) => b.includes(0),
      );
      expect(again.toString("latin1")).toMatch(/^CONNECTED\n/);
    } finally {
      await broker.dispose();
    }
    expect(processesMentioning(broker.dir)).toEqual([]);
  });
});
