import { execFileSync } from "node:child_process";
import { existsSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";

/** The CLI and reconnect tests spawn the built CLI: build when dist is missing or older than src. */
export default function setup(): void {
  const root = join(import.meta.dirname, "..");
  const cli = join(root, "dist", "cli.js");
  const built = existsSync(cli) ? statSync(cli).mtimeMs : 0;
  const newest = Math.max(
    ...readdirSync(join(root, "src")).map((f) => statSync(join(root, "src", f)).mtimeMs),
  );
  if (newest > built) {
    execFileSync(
      process.execPath,
      [join(root, "..", "..", "node_modules", "typescript", "bin", "tsc"), "-p", "tsconfig.build.json"],
      { cwd: root, stdio: "inherit" },
    );
  }
}
