import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { chmodSync, mkdtempSync, writeFileSync } from "node:fs";
import { connect, createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Aedes } from "aedes";
import mqtt, { type MqttClient } from "mqtt";

export async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

export const hasMosquitto = spawnSync("mosquitto", ["-h"], { stdio: "ignore" }).error === undefined;

/** A real Mosquitto on 127.0.0.1:port that can be stopped and started again on the same port. */
export class Mosquitto {
  private proc: ChildProcess | undefined;
  readonly dir = mkdtempSync(join(tmpdir(), "mosq-"));
  log = "";

  constructor(
    readonly port: number,
    public extraConfig = "allow_anonymous true\n",
  ) {
    // mosquitto started as root drops to its own user, which must read (and may write) here
    chmodSync(this.dir, 0o777);
  }

  get url(): string {
    return `mqtt://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    const conf = join(this.dir, "mosquitto.conf");
    // Mosquitto takes the last `persistence` line: off unless the extra configuration turns it on
    const persistence = /^persistence\s/m.test(this.extraConfig) ? "" : "persistence false\n";
    writeFileSync(conf, `listener ${this.port} 127.0.0.1\n${this.extraConfig}${persistence}`);
    const proc = spawn("mosquitto", ["-c", conf], { stdio: ["ignore", "pipe", "pipe"] });
    proc.stderr?.on("data", (d: Buffer) => {
      this.log += d.toString();
    });
    this.proc = proc;
    // ready when the port accepts TCP connections
    for (let i = 0; i < 100; i++) {
      if (proc.exitCode !== null) throw new Error(`mosquitto exited: ${this.log}`);
      const open = await new Promise<boolean>((resolve) => {
        const sock = connect(this.port, "127.0.0.1");
        sock.once("connect", () => {
          sock.destroy();
          resolve(true);
        });
        sock.once("error", () => resolve(false));
      });
      if (open) return;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`mosquitto did not come up: ${this.log}`);
  }

  /** SIGHUP: Mosquitto reloads its configuration and password file. */
  reload(): void {
    this.proc?.kill("SIGHUP");
  }

  async stop(): Promise<void> {
    const p = this.proc;
    if (!p || p.exitCode !== null) return;
    const exited = new Promise((r) => p.once("exit", r));
    p.kill("SIGTERM");
    await exited;
  }
}

/** In-process aedes broker over TCP on 127.0.0.1. */
export async function startAedes(): Promise<{ url: string; close: () => Promise<void>; server: Server }> {
  const broker = await Aedes.createBroker();
  const server = createServer(broker.handle);
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const url = `mqtt://127.0.0.1:${(server.address() as { port: number }).port}`;
  return {
    url,
    server,
    close: () =>
      new Promise<void>((resolve) => {
        server.close();
        broker.close(() => resolve());
      }),
  };
}

export interface Received {
  readonly topic: string;
  readonly payload: string;
  readonly retain: boolean;
}

/** A subscriber that records everything on `topic` (wildcards allowed). */
export async function subscriber(
  url: string,
  topic: string,
  options: mqtt.IClientOptions = {},
): Promise<{ client: MqttClient; messages: Received[] }> {
  const messages: Received[] = [];
  const client = await mqtt.connectAsync(url, { reconnectPeriod: 200, clean: true, ...options });
  client.on("message", (t, p, packet) =>
    messages.push({ topic: t, payload: p.toString(), retain: packet.retain }),
  );
  await client.subscribeAsync(topic, { qos: 1 });
  return { client, messages };
}

export async function waitFor(cond: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
