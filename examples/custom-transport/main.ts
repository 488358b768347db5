/**
 * Runs both custom-transport examples:
 *   npm run build && node dist/examples/custom-transport/main.js
 */
import { main as unixSocket } from "./unix-socket.js";
import { main as existingHttpServer } from "./existing-http-server.js";

console.log("unix socket:        ", await unixSocket());
const { health, reply } = await existingHttpServer();
console.log("existing http server: GET /health ->", health, "| grid call ->", reply);
