#!/usr/bin/env node
// Runs the TypeScript sources directly; no build step between a git checkout and a running counter.
import { register } from "tsx/esm/api";

register();
await import("../edge/cli/main.ts");
