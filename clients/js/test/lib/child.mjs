// Runs fixtures/upload-child.mjs (one upload in its own process) or fixtures/wx-page.mjs (an example mini-program
// page) so a test can SIGKILL it mid-upload.
import { spawn } from "node:child_process";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";

const fixtures = join(dirname(fileURLToPath(import.meta.url)), "..", "fixtures");

/**
 * Starts the child; `onEvent` may return "kill". Resolves with its events, the result (or `final`) line and every
 * other line, or the signal. `kill()` on the returned promise kills it at any time.
 */
export function runChild(args, onEvent = () => {}, { script = "upload-child.mjs" } = {}) {
  let p;
  const done = new Promise((resolve) => {
    p = spawn(process.execPath, [join(fixtures, script), JSON.stringify(args)], { stdio: ["ignore", "pipe", "pipe"] });
    const events = [];
    const lines = [];
    let result = null;
    let err = "";
    let buf = "";
    p.stderr.on("data", (d) => (err += d));
    p.stdout.on("data", (d) => {
      buf += d;
      let i;
      while ((i = buf.indexOf("\n")) >= 0) {
        const line = JSON.parse(buf.slice(0, i));
        buf = buf.slice(i + 1);
        if (line.event) {
          events.push(line.event);
          if (onEvent(line.event, events) === "kill") p.kill("SIGKILL");
        } else if (line.result || line.final) result = line;
        else lines.push(line);
      }
    });
    p.on("exit", (code, signal) => resolve({ code, signal, events, result, lines, stderr: err }));
  });
  done.kill = () => p.kill("SIGKILL");
  return done;
}
