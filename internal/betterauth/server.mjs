// server.mjs runs a real Better Auth 1.7.25 server, the one auth_gate
// replaces, so that cmd/authbench can measure both in the same run:
//
//	DATABASE_URL=postgres://… BETTER_AUTH_SECRET=… PORT=3000 node server.mjs
//
// Environment:
//   DATABASE_URL        PostgreSQL connection string (required). The tables
//                       must exist: auth_gate creates Better Auth's own layout
//                       on the same database, and this server shares it.
//   BETTER_AUTH_SECRET  the secret (required), the same one auth_gate uses,
//                       so that cookies of either server are valid on both.
//   PORT                port on 127.0.0.1 (required).
//   BASE_PATH           where the API lives (default /auth, auth_gate's).
//   TRUSTED_ORIGINS     comma-separated extra trusted origins.
//
// The configuration is what an app replacing Better Auth with auth_gate ran:
// email and password on, everything else at its defaults, except that rate
// limiting is off (a benchmark sends thousands of sign-ins from one IP) and
// telemetry is off explicitly. Do not run it with NODE_ENV=test: Better
// Auth then skips its origin/CSRF checks and would do less work than in
// production. On SIGTERM or SIGINT it closes the server and the pool.

import http from "node:http";
import { betterAuth } from "better-auth";
import { toNodeHandler } from "better-auth/node";
import pg from "pg";

const { DATABASE_URL, BETTER_AUTH_SECRET, PORT } = process.env;
if (!DATABASE_URL || !BETTER_AUTH_SECRET || !PORT) {
	console.error("usage: DATABASE_URL=… BETTER_AUTH_SECRET=… PORT=… node server.mjs");
	process.exit(2);
}
if (process.env.NODE_ENV === "test") {
	console.error("server.mjs: refusing NODE_ENV=test (it turns Better Auth's CSRF checks off)");
	process.exit(2);
}

const baseURL = `http://127.0.0.1:${PORT}`;
const trustedOrigins = (process.env.TRUSTED_ORIGINS || "")
	.split(",")
	.map((s) => s.trim())
	.filter(Boolean);

// pg.Pool's default of at most 10 connections is also auth_gate's.
const pool = new pg.Pool({ connectionString: DATABASE_URL });

const auth = betterAuth({
	database: pool,
	secret: BETTER_AUTH_SECRET,
	baseURL,
	basePath: process.env.BASE_PATH || "/auth",
	trustedOrigins,
	emailAndPassword: { enabled: true },
	rateLimit: { enabled: false },
	telemetry: { enabled: false },
});

const server = http.createServer(toNodeHandler(auth));
server.listen(Number(PORT), "127.0.0.1", () => {
	console.log(`better-auth listening on ${baseURL}`);
});

let closing = false;
function shutdown() {
	if (closing) return;
	closing = true;
	server.close();
	server.closeAllConnections();
	pool.end().finally(() => process.exit(0));
	setTimeout(() => process.exit(0), 3000).unref();
}
process.on("SIGTERM", shutdown);
process.on("SIGINT", shutdown);
