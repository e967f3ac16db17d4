#!/usr/bin/env node
import { writeReport } from "../dist/report.js";

writeReport(process.cwd());
console.error("wrote BENCHMARKS.md");
