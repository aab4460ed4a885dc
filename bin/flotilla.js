#!/usr/bin/env node
import { launch } from "./launch.js";
await launch("../cli/src/main.ts", { exitWhenDone: true });
