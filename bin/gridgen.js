#!/usr/bin/env node
// The gridgen CLI lives in TypeScript under codegen/; `npm install` compiles it to dist/.
import "../dist/codegen/cli.js";
