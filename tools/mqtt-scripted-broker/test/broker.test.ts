import { once } from "node:events";
import net from "node:net";
import mqtt from "mqtt-packet";
import { afterEach, describe, expect, it } from "vitest";
import { type ScriptedBroker, startScriptedBroker, topicMatches } from "../src/index.js";

const brokers: ScriptedBroker[] = [];
const sockets: net.Socket[] = [];
afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  await Promise.all(brokers.splice(0).map((b) => b.stop()));
});

/** A raw MQTT 5 client on mqtt-packet, collecting what the broker sends. */
async function rawClient(broker: ScriptedBroker) {
  const socket = net.connect(broker.port, broker.host);
  sockets.push(socket);
  await once(socket, "connect");
  const parser = mqtt.parser({ protocolVersion: 5 });
  const packets: mqtt.Packet[] = [];
  parser.on("packet", (p: mqtt.Packet) => packets.push(p));
  socket.on("data", (d) => parser.parse(d));
  const send = (p: mqtt.Packet) => socket.write(mqtt.generate(p, { protocolVersion: 5 }));
  const next = async (cmd: string) => {
    for (let i = 0; i < 200; i++) {
      const found = packets.find((p) => p.cmd === cmd);
      if (found) {
        packets.splice(packets.indexOf(found), 1);
        return found;
      }
      await new Promise((r) => setTimeout(r, 10));
    }
    throw new Error(`no ${cmd}`);
  };
  return { send, next, socket };
}

describe("scripted broker", () => {
  it("scripts CONNACK properties and SUBACK codes, routes PUBLISH and records packets", async () => {
    const broker = await startScriptedBroker({
      connack: () => ({
        properties: { responseInformation: "r/1", userProperties: { "subscribe-topic": ["a", "b"] } },
      }),
      suback: (s) => (s.topic === "denied" ? 0x87 : s.qos),
    });
    brokers.push(broker);
    const c = await rawClient(broker);
    c.send({
      cmd: "connect",
      protocolId: "MQTT",
      protocolVersion: 5,
      clean: true,
      clientId: "x",
      keepalive: 0,
    });
    const connack = (await c.next("connack")) as mqtt.IConnackPacket;
    expect(connack.properties?.responseInformation).toBe("r/1");
    expect(connack.properties?.userProperties).toEqual({ "subscribe-topic": ["a", "b"] });
    c.send({
      cmd: "subscribe",
      messageId: 1,
      subscriptions: [
        { topic: "t/+", qos: 1 },
        { topic: "denied", qos: 0 },
      ],
    });
    expect(((await c.next("suback")) as mqtt.ISubackPacket).granted).toEqual([1, 0x87]);
    c.send({
      cmd: "publish",
      topic: "t/x",
      payload: Buffer.from("hi"),
      qos: 1,
      messageId: 7,
      dup: false,
      retain: false,
      properties: { contentType: "usp.msg" },
    });
    expect(((await c.next("puback")) as mqtt.IPubackPacket).messageId).toBe(7);
    const routed = (await c.next("publish")) as mqtt.IPublishPacket;
    expect(routed.topic).toBe("t/x");
    expect(routed.properties?.contentType).toBe("usp.msg");
    expect(broker.received.map((p) => p.packet.cmd)).toEqual(["connect", "subscribe", "publish"]);
    broker.clients[0]?.disconnect(0x8b);
    expect(((await c.next("disconnect")) as mqtt.IDisconnectPacket).reasonCode).toBe(0x8b);
  });

  it("matches topic filters", () => {
    expect(topicMatches("a/#", "a")).toBe(true);
    expect(topicMatches("a/+/c", "a/b/c")).toBe(true);
    expect(topicMatches("+/x", "$SYS/x")).toBe(false);
  });
});
