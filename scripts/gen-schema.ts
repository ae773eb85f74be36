// Writes docs/config.schema.json from the config schema, for editor autocompletion and validation.
import { writeFileSync } from "node:fs";
import { ConfigSchema } from "../edge/config/schema.ts";

const target = new URL("../docs/config.schema.json", import.meta.url);
writeFileSync(target, `${JSON.stringify(ConfigSchema, null, 2)}\n`);
console.log(`wrote ${target.pathname}`);
