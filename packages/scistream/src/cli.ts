/** `scistream <s2cs|s2uc|appctrl> ...`: one entry point for the three commands. */
import { runAppctrl } from "./cli/appctrl.js";
import { EXIT_OK, EXIT_USAGE, VERSION } from "./cli/common.js";
import { runS2cs } from "./cli/s2cs.js";
import { runS2uc } from "./cli/s2uc.js";

export { runAppctrl, runS2cs, runS2uc };

const HELP = `Usage: scistream <command> [options]

Commands:
  s2cs      run a control server with its data server (see: scistream s2cs --help)
  s2uc      user client: inbound-request, outbound-request, prod-req, cons-req, update, release
  appctrl   application controller: hello
The same commands are installed as the binaries s2cs, s2uc and appctrl.
`;

export async function main(argv: readonly string[] = process.argv.slice(2)): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case "s2cs":
      return runS2cs(rest);
    case "s2uc":
      return runS2uc(rest);
    case "appctrl":
      return runAppctrl(rest);
    case "--version":
      process.stdout.write(`${VERSION}\n`);
      return EXIT_OK;
    case "--help":
    case "-h":
      process.stdout.write(HELP);
      return EXIT_OK;
    default:
      process.stderr.write(command === undefined ? HELP : `error: unknown command ${command}\n${HELP}`);
      return EXIT_USAGE;
  }
}
