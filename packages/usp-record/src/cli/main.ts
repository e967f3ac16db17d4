/** Entry point of the `usp-record` CLI: global flags, subcommand dispatch, exit codes. */
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { COMMANDS, type CommandContext, GLOBAL_OPTIONS } from "./commands.js";
import { UsageError } from "./io.js";

export interface CliStreams {
  readonly stdin: CommandContext["stdin"];
  readonly stdout: NodeJS.WritableStream;
  readonly stderr: NodeJS.WritableStream;
}

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as {
    version: string;
  };
  return pkg.version;
}

function mainHelp(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((name) => name.length));
  const list = Object.entries(COMMANDS)
    .map(([name, command]) => `  ${name.padEnd(width)}  ${command.summary}`)
    .join("\n");
  return `Usage: usp-record <command> [options] [FILE...]

TR-369 USP Record tool (USP 1.4 schema; reads Records of USP 1.0 to 1.4).

Commands:
${list}

Options:
  -h, --help      help (also: usp-record <command> --help)
  -V, --version   print the version
      --json      JSON output

Exit status: 0 success, 1 failure (invalid input), 2 usage error.`;
}

/** Runs the CLI and resolves to the exit code. Never throws. */
export async function main(argv: readonly string[], streams: CliStreams): Promise<number> {
  const [name, ...rest] = argv;
  try {
    if (name === undefined || name === "--help" || name === "-h" || name === "help") {
      const topic = name === "help" ? rest[0] : undefined;
      const command = topic === undefined ? undefined : COMMANDS[topic];
      if (topic !== undefined && command === undefined) throw new UsageError(`unknown command "${topic}"`);
      streams.stdout.write(`${command?.help ?? mainHelp()}\n`);
      return name === undefined ? 2 : 0;
    }
    if (name === "--version" || name === "-V" || name === "version") {
      streams.stdout.write(`${version()}\n`);
      return 0;
    }
    const command = Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined;
    if (command === undefined) throw new UsageError(`unknown command "${name}" (try --help)`);
    let parsed: ReturnType<typeof parseArgs>;
    try {
      parsed = parseArgs({
        args: [...rest],
        options: { ...GLOBAL_OPTIONS, ...command.options },
        allowPositionals: true,
        strict: true,
      });
    } catch (error) {
      throw new UsageError((error as Error).message);
    }
    if (parsed.values.help === true) {
      streams.stdout.write(`${command.help}\n`);
      return 0;
    }
    if (parsed.values.version === true) {
      streams.stdout.write(`${version()}\n`);
      return 0;
    }
    return await command.run({ values: parsed.values, positionals: parsed.positionals, ...streams });
  } catch (error) {
    if (error instanceof UsageError) {
      streams.stderr.write(`usp-record: ${error.message}\n`);
      return 2;
    }
    streams.stderr.write(
      `usp-record: internal error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    );
    return 1;
  }
}
