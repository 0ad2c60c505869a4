// Bundles uppy5/entry.mjs and uppy6/entry.mjs (each resolving its own node_modules) into dist/ for the test page.
import { build } from "esbuild";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
for (const v of [5, 6]) {
  await build({
    entryPoints: [join(here, `uppy${v}`, "entry.mjs")],
    outfile: join(here, "dist", `uppy${v}.js`),
    bundle: true,
    format: "esm",
    platform: "browser",
    target: "es2022",
    logLevel: "warning",
  });
}
