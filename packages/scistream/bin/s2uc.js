#!/usr/bin/env node
import { runS2uc } from "../dist/cli.js";

process.exitCode = await runS2uc(process.argv.slice(2));
