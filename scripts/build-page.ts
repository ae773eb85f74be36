// `npm run build`, second step: the page bundled beside the compiled API (dist/page), where
// dist/api/page-assets.js finds it instead of bundling at run time; the Site page likewise
// (dist/site/page, for dist/site/site-api.js).
import { copyFileSync, mkdirSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { bundlePage } from "../edge/api/page-assets.ts";

const source = fileURLToPath(new URL("../edge/page/", import.meta.url));
const target = fileURLToPath(new URL("../dist/page/", import.meta.url));
mkdirSync(target, { recursive: true });
const { js, css } = await bundlePage(`${source}app.ts`);
writeFileSync(`${target}app.js`, js);
writeFileSync(`${target}app.css`, css);
copyFileSync(`${source}index.html`, `${target}index.html`);
console.log(
  `page: dist/page/app.js ${(js.length / 1024).toFixed(1)} KB, app.css ${(css.length / 1024).toFixed(1)} KB`,
);

const siteSource = fileURLToPath(new URL("../edge/site/page/", import.meta.url));
const siteTarget = fileURLToPath(new URL("../dist/site/page/", import.meta.url));
mkdirSync(siteTarget, { recursive: true });
const site = await bundlePage(`${siteSource}site.ts`);
writeFileSync(`${siteTarget}page.js`, site.js);
writeFileSync(`${siteTarget}page.css`, site.css);
copyFileSync(`${siteSource}index.html`, `${siteTarget}index.html`);
console.log(`site page: dist/site/page/page.js ${(site.js.length / 1024).toFixed(1)} KB`);
