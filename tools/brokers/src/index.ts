/**
 * Real brokers for tests, on loopback with free ports: Mosquitto (MQTT 5 / 3.1.1), RabbitMQ with
 * the STOMP plugin, ActiveMQ (STOMP). Each instance has its own scratch directory, waits until its
 * port accepts, can be stopped, killed and restarted on the same ports, and leaves no process behind
 * (`dispose()`, plus a process-exit hook as a last resort).
 */
export { type ActiveMqOptions, type RunningActiveMq, startActiveMq } from "./activemq.js";
export type { BrokerTls, RunningBroker } from "./common.js";
export { type MosquittoOptions, type RunningMosquitto, startMosquitto } from "./mosquitto.js";
export { BrokerError, descendants, freePort, processesMentioning, waitForPort } from "./process.js";
export { type RabbitMqOptions, type RunningRabbitMq, startRabbitMq } from "./rabbitmq.js";
