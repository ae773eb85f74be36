import { describe, expect, it } from "vitest";
import { parseConfig } from "../edge/config/load.ts";
import { Redactor, redactText, secretsIn } from "../edge/domain/redact.ts";

describe("redaction", () => {
  it("hides URL userinfo, secret query parameters and known secret values", () => {
    expect(redactText("rtsp://admin:S3cretCamPass@10.0.0.5:554/stream1")).toBe(
      "rtsp://***@10.0.0.5:554/stream1",
    );
    expect(redactText("mqtts://tok3nOnly@broker/x")).toBe("mqtts://***@broker/x");
    expect(redactText("http://cam/snap.cgi?user=a&password=hunter22&x=1")).toBe(
      "http://cam/snap.cgi?user=a&password=***&x=1",
    );
    expect(redactText("GET /a?token=abc.def&api_key=K")).toBe("GET /a?token=***&api_key=***");
    const r = new Redactor(["S3cretCamPass"]);
    // ffmpeg may repeat a password without the URL around it
    expect(r.text("401: auth S3cretCamPass rejected")).toBe("401: auth *** rejected");
  });

  it("finds the secrets of a configuration, also percent-encoded ones", () => {
    const s = secretsIn({
      camera: { source: "rtsp://admin:p%40ssw0rd@cam/s?token=T0kenValue" },
      mqtt: { url: "mqtt://user:MqttSecret@host", password: "pw-field-1", tls: { key: "/etc/key.pem" } },
      api: { token: "ApiT0kenSecret-0123" },
    });
    for (const v of [
      "p%40ssw0rd",
      "p@ssw0rd",
      "T0kenValue",
      "MqttSecret",
      "pw-field-1",
      "ApiT0kenSecret-0123",
    ])
      expect(s).toContain(v);
    expect(s).not.toContain("/etc/key.pem");
    expect(s).not.toContain("admin");
  });

  it("value(): secret fields become *** and URLs inside strings are redacted", () => {
    const c = parseConfig(
      {
        device: { id: "d1", location: { latitude: 1, longitude: 2 } },
        camera: { source: "rtsp://admin:S3cretCamPass@cam/stream1?token=T0kenValue" },
        mqtt: { url: "mqtt://user:MqttSecret@127.0.0.1:1883", username: "u", password: "pw-field-1" },
        api: { token: "ApiT0kenSecret-0123" },
        lines: [
          {
            name: "l",
            points: [
              [0, 0.5],
              [1, 0.5],
            ],
            from: "a",
            to: "b",
          },
        ],
      },
      "t.yaml",
      {},
    );
    const text = JSON.stringify(Redactor.for(c).value(c));
    for (const v of ["S3cretCamPass", "T0kenValue", "MqttSecret", "pw-field-1", "ApiT0kenSecret-0123"])
      expect(text).not.toContain(v);
    expect(text).toContain("rtsp://***@cam/stream1?token=***");
  });

  it("config errors that quote a value do not show its password", () => {
    expect(() =>
      parseConfig(
        {
          device: { id: "d1", location: { latitude: 1, longitude: 2 } },
          camera: { source: "rtsp://admin:S3cretCamPass@cam/x" },
          mqtt: { url: "mqtt://user:MqttSecret@host", protocolVersion: 7 },
        },
        "t.yaml",
        {},
      ),
    ).toThrow(/protocolVersion/);
    try {
      parseConfig(
        {
          device: { id: "d1", location: { latitude: 1, longitude: 2 } },
          camera: { source: 12, fps: "rtsp://admin:S3cretCamPass@cam/x" },
        },
        "t.yaml",
        {},
      );
    } catch (err) {
      expect((err as Error).message).not.toContain("S3cretCamPass");
      expect((err as Error).message).toContain("camera.fps");
      return;
    }
    throw new Error("expected a config error");
  });
});

describe("redacting JSON keeps it JSON, whatever the secret is", () => {
  it.each(["true", "1000", "null", "east", "online"])(
    "a password %j hides itself in strings but never breaks a status or counts payload",
    (password) => {
      const r = new Redactor([password]);
      const payload = JSON.stringify({
        online: true,
        partial: false,
        count: 1000,
        nothing: null,
        lastError: `connection refused for counter:${password}@broker`,
        lines: [{ line: "gate", from: "west", to: "east", mode: "pedestrian", count: 3 }],
      });
      const out = r.json(payload);
      const parsed = JSON.parse(out) as Record<string, unknown>;
      expect(parsed.online).toBe(true);
      expect(parsed.partial).toBe(false);
      expect(parsed.count).toBe(1000);
      expect(parsed.nothing).toBe(null);
      expect(parsed.lastError).not.toContain(password);
      // text that is no JSON is redacted as text; a log line keeps its newline
      expect(r.json(`error ${password}!`)).toBe("error ***!");
      expect(r.json(`${payload}\n`).endsWith("}\n")).toBe(true);
    },
  );
});
