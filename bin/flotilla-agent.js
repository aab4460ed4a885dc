#!/usr/bin/env node
import { launch } from "./launch.js";
await launch("../agent/src/main.ts", { exitWhenDone: true });
