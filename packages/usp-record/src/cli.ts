/** The `usp-record` command (see `src/cli/`). */
import { main } from "./cli/main.js";

const code = await main(process.argv.slice(2), {
  stdin: process.stdin,
  stdout: process.stdout,
  stderr: process.stderr,
});
process.exitCode = code;
