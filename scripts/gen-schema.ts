// Writes the JSON Schemas in docs/ from the schemas in code: the device configuration (for editor
// autocompletion) and the MQTT payloads (for consumers); and the reference table in
// docs/configuration.md.
import { readFileSync, writeFileSync } from "node:fs";
import { withReference } from "../edge/config/reference.ts";
import { ConfigSchema } from "../edge/config/schema.ts";
import { CountsMessageSchema, StatusMessageSchema } from "../edge/publish/messages.ts";
import { AlarmMessageSchema, SiteMessageSchema } from "../edge/site/messages.ts";
import { withSiteReference } from "../edge/site/reference.ts";
import { SiteConfigSchema } from "../edge/site/schema.ts";

for (const [file, schema] of [
  ["config.schema.json", ConfigSchema],
  ["mqtt-counts.schema.json", CountsMessageSchema],
  ["mqtt-status.schema.json", StatusMessageSchema],
  ["site-config.schema.json", SiteConfigSchema],
  ["mqtt-site.schema.json", SiteMessageSchema],
  ["mqtt-site-alarm.schema.json", AlarmMessageSchema],
] as const) {
  const target = new URL(`../docs/${file}`, import.meta.url);
  writeFileSync(target, `${JSON.stringify(schema, null, 2)}\n`);
  console.log(`wrote ${target.pathname}`);
}

const configurationDoc = new URL("../docs/configuration.md", import.meta.url);
writeFileSync(
  configurationDoc,
  withSiteReference(withReference(readFileSync(configurationDoc, "utf8"), ConfigSchema)),
);
console.log(`wrote the reference in ${configurationDoc.pathname}`);
