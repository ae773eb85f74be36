import { call, type RedactedConfig } from "./api.ts";
import { h } from "./dom.ts";
import { type StringKey, t } from "./strings.ts";

/** The device tab: what it is and where it sends; secrets only as set / not set. */
/** The API shows every secret as `***` (a URL's password too): the page can only say whether one is set. */
const isSet = (v: string | undefined) => v?.includes("***") === true;

export async function renderDevice(body: HTMLElement): Promise<void> {
  const r = await call<RedactedConfig>("GET", "/api/config");
  if (r.status !== 200) return;
  const c = r.body;
  const row = (label: StringKey, value: string) => [h("dt", {}, t(label)), h("dd", {}, value)];
  const secret = (label: StringKey, set: boolean) => row(label, t(set ? "secretSet" : "secretNotSet"));
  body.replaceChildren(
    h(
      "dl",
      { class: "facts" },
      ...row("deviceId", c.device.id),
      ...row("deviceName", c.device.name || "—"),
      ...row("location", `${c.device.location.latitude}, ${c.device.location.longitude}`),
      ...row("cameraSource", c.camera.source),
      ...row("model", c.model.id),
      ...row("mqttBroker", c.mqtt.enabled ? c.mqtt.url : t("off")),
      ...row("mqttFormat", c.mqtt.format),
    ),
    h("h3", {}, t("secrets")),
    h(
      "dl",
      { class: "facts", id: "secrets" },
      ...secret("mqttPassword", isSet(c.mqtt.password) || /\/\/[^/]*\*\*\*[^/]*@/.test(c.mqtt.url)),
      ...secret("apiToken", isSet(c.api.token)),
      ...secret("cameraCredentials", /\/\/[^/]*\*\*\*[^/]*@/.test(c.camera.source)),
    ),
  );
}
