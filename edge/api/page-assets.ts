import { existsSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

/** One file of the set-up and counts page, ready to send. */
export interface PageFile {
  readonly contentType: string;
  readonly body: Buffer;
}

/** The page's files by URL path: `/`, `/page/app.js`, `/page/app.css`. */
export type PageAssets = ReadonlyMap<string, PageFile>;

const HTML = "text/html; charset=utf-8";
const JS = "text/javascript; charset=utf-8";
const CSS = "text/css; charset=utf-8";

/**
 * The page as served. `npm run build` writes it bundled beside the compiled API (dist/page); run from
 * the sources (an installed device, the tests), it is bundled here once, in memory, by esbuild, from
 * edge/page: no build step between a checkout and a working page, nothing fetched at run time.
 */
export async function loadPageAssets(): Promise<PageAssets> {
  const dir = fileURLToPath(new URL("../page/", import.meta.url));
  const html = readFileSync(`${dir}index.html`);
  if (existsSync(`${dir}app.js`)) {
    return new Map([
      ["/", { contentType: HTML, body: html }],
      ["/page/app.js", { contentType: JS, body: readFileSync(`${dir}app.js`) }],
      ["/page/app.css", { contentType: CSS, body: readFileSync(`${dir}app.css`) }],
    ]);
  }
  const { js, css } = await bundlePage(`${dir}app.ts`);
  return new Map([
    ["/", { contentType: HTML, body: html }],
    ["/page/app.js", { contentType: JS, body: js }],
    ["/page/app.css", { contentType: CSS, body: css }],
  ]);
}

/** esbuild: the page's TypeScript and CSS (uPlot's included) into one script and one stylesheet. */
export async function bundlePage(entry: string): Promise<{ js: Buffer; css: Buffer }> {
  const esbuild = await import("esbuild");
  const result = await esbuild.build({
    entryPoints: [entry],
    bundle: true,
    minify: true,
    format: "esm",
    platform: "browser",
    target: ["chrome100", "firefox100", "safari15"],
    outdir: "/page",
    entryNames: "app",
    write: false,
    logLevel: "silent",
  });
  const find = (ext: string) => {
    const file = result.outputFiles.find((f) => f.path.endsWith(ext));
    if (!file) throw new Error(`page bundle: esbuild wrote no ${ext} file`);
    return Buffer.from(file.contents);
  };
  return { js: find(".js"), css: find(".css") };
}
