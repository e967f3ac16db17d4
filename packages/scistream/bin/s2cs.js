#!/usr/bin/env node
import { runS2cs } from "../dist/cli.js";

process.exitCode = await runS2cs(process.argv.slice(2));
