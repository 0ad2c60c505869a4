// Runs fixtures/upload-child.mjs (one upload in its own process) so a test can SIGKILL it mid-upload.
import { spawn } from "node:child_process";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";

const child = join(dirname(fileURLToPath(import.meta.url)), "..", "fixtures", "upload-child.mjs");

/** Starts the child; `onEvent` may return "kill". Resolves with its events and the result line, or the signal. */
export function runChild(args, onEvent = () => {}) {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [child, JSON.stringify(args)], { stdio: ["ignore", "pipe", "pipe"] });
    const events = [];
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
        } else if (line.result) result = line;
      }
    });
    p.on("exit", (code, signal) => resolve({ code, signal, events, result, stderr: err }));
  });
}
