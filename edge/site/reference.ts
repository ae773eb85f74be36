import { renderConfigReference } from "../config/reference.ts";
import { SiteConfigSchema } from "./schema.ts";

export const SITE_REFERENCE_START =
  "<!-- site reference: generated from edge/site/schema.ts by `npm run schema` -->";
export const SITE_REFERENCE_END = "<!-- end of site reference -->";

/** Replaces the generated site.yaml table in docs/configuration.md. */
export function withSiteReference(markdown: string): string {
  const start = markdown.indexOf(SITE_REFERENCE_START);
  const end = markdown.indexOf(SITE_REFERENCE_END);
  if (start < 0 || end < start) throw new Error("docs/configuration.md lacks the site reference markers");
  return `${markdown.slice(0, start + SITE_REFERENCE_START.length)}\n\n${renderConfigReference(SiteConfigSchema)}\n${markdown.slice(end)}`;
}
