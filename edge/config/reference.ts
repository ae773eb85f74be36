import type { TSchema } from "@sinclair/typebox";

/**
 * The configuration reference table in docs/configuration.md, rendered from the schema, so the
 * documented keys, types and defaults cannot drift from what the loader accepts.
 */

interface JsonSchema {
  type?: string;
  properties?: Record<string, JsonSchema>;
  required?: string[];
  items?: JsonSchema | JsonSchema[];
  anyOf?: JsonSchema[];
  const?: unknown;
  default?: unknown;
  description?: string;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  exclusiveMaximum?: number;
  minLength?: number;
  maxLength?: number;
  minItems?: number;
  pattern?: string;
  patternProperties?: Record<string, JsonSchema>;
}

interface Row {
  readonly key: string;
  readonly type: string;
  readonly defaultValue: string;
  readonly meaning: string;
}

function range(s: JsonSchema): string {
  const lo =
    s.exclusiveMinimum !== undefined
      ? `(${s.exclusiveMinimum}`
      : s.minimum !== undefined
        ? `[${s.minimum}`
        : "";
  const hi =
    s.exclusiveMaximum !== undefined
      ? `${s.exclusiveMaximum})`
      : s.maximum !== undefined
        ? `${s.maximum}]`
        : "";
  if (lo && hi) return ` ${lo}, ${hi}`;
  if (lo) return ` ≥ ${lo.slice(1)}${lo.startsWith("(") ? " (exclusive)" : ""}`;
  if (hi) return ` ≤ ${hi.slice(0, -1)}`;
  return "";
}

function typeOf(s: JsonSchema): string {
  if (s.anyOf?.every((o) => o.const !== undefined))
    return s.anyOf.map((o) => `\`${String(o.const)}\``).join(", ");
  if (s.anyOf) return s.anyOf.map(typeOf).join(" or ");
  switch (s.type) {
    case "string": {
      const parts = ["string"];
      if (s.minLength !== undefined && s.minLength > 1) parts.push(`≥ ${s.minLength} chars`);
      if (s.maxLength !== undefined) parts.push(`≤ ${s.maxLength} chars`);
      return parts.join(", ");
    }
    case "number":
      return `number${range(s)}`;
    case "integer":
      return `integer${range(s)}`;
    case "boolean":
      return "boolean";
    case "array": {
      if (Array.isArray(s.items)) return `[${s.items.map(typeOf).join(", ")}]`;
      const item = s.items as JsonSchema;
      const min = s.minItems ? `≥ ${s.minItems} ` : "";
      if (item.type === "array" && Array.isArray(item.items)) return `${min}points [x, y]`.trim();
      return `list of ${min}${typeOf(item)}`;
    }
    case "object":
      if (s.patternProperties) return `map of name → ${typeOf(Object.values(s.patternProperties)[0]!)}`;
      return "object";
    default:
      return s.type ?? "";
  }
}

function defaultOf(s: JsonSchema, required: boolean): string {
  if (s.default === undefined) return required ? "required" : "none";
  if (Array.isArray(s.default)) return s.default.length === 0 ? "`[]`" : s.default.join(", ");
  if (typeof s.default === "object" && s.default !== null) {
    return Object.entries(s.default)
      .map(([k, v]) => `${k}: ${String(v)}`)
      .join(", ");
  }
  return `\`${JSON.stringify(s.default)}\``;
}

function collect(s: JsonSchema, path: string, rows: Row[]): void {
  for (const [name, child] of Object.entries(s.properties ?? {})) {
    const key = path ? `${path}.${name}` : name;
    const required = (s.required ?? []).includes(name);
    if (child.type === "object" && child.properties) {
      if (child.description)
        rows.push({ key, type: "object", defaultValue: "none", meaning: child.description });
      collect(child, key, rows);
    } else if (child.type === "array" && !Array.isArray(child.items) && child.items?.type === "object") {
      collect(child.items, `${key}[]`, rows);
    } else {
      rows.push({
        key,
        type: typeOf(child),
        defaultValue: defaultOf(child, required),
        meaning: child.description ?? "",
      });
    }
  }
}

const cell = (text: string) => text.replaceAll("|", "\\|").replaceAll("\n", " ");

export function renderConfigReference(schema: TSchema): string {
  const rows: Row[] = [];
  collect(schema as unknown as JsonSchema, "", rows);
  const lines = [
    "| key | type | default | meaning |",
    "| --- | --- | --- | --- |",
    ...rows.map((r) => `| \`${r.key}\` | ${cell(r.type)} | ${cell(r.defaultValue)} | ${cell(r.meaning)} |`),
  ];
  return `${lines.join("\n")}\n`;
}

export const REFERENCE_START = "<!-- reference: generated from edge/config/schema.ts by `npm run schema` -->";
export const REFERENCE_END = "<!-- end of reference -->";

/** Replaces the generated part of docs/configuration.md. */
export function withReference(markdown: string, schema: TSchema): string {
  const start = markdown.indexOf(REFERENCE_START);
  const end = markdown.indexOf(REFERENCE_END);
  if (start < 0 || end < start) throw new Error("docs/configuration.md lacks the reference markers");
  return `${markdown.slice(0, start + REFERENCE_START.length)}\n\n${renderConfigReference(schema)}\n${markdown.slice(end)}`;
}
