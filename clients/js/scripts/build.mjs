// Build: ESM + .d.ts into dist/, CommonJS into dist/cjs/ (its own package.json marks it commonjs).
import { execFileSync } from "node:child_process";
import { rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const tsc = join(root, "node_modules", ".bin", "tsc");
rmSync(join(root, "dist"), { recursive: true, force: true });
execFileSync(tsc, ["-p", root], { stdio: "inherit" });
execFileSync(tsc, ["-p", root, "--module", "commonjs", "--declaration", "false", "--outDir", join(root, "dist", "cjs")], { stdio: "inherit" });
writeFileSync(join(root, "dist", "cjs", "package.json"), '{"type":"commonjs"}\n');
