#!/usr/bin/env node
import { runAppctrl } from "../dist/cli.js";

process.exitCode = await runAppctrl(process.argv.slice(2));
