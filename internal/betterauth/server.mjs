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
//   BASE_URL            the public origin (default http://127.0.0.1:PORT);
//                       set it when the server sits behind the same origin
//                       as auth_gate or an OAuth redirect URI names it.
//   PLUGINS             JSON object: plugin name → options, for the plugins
//                       that wave 2 must stay compatible with, e.g.
//                       {"twoFactor":{"issuer":"x"},"admin":{},"jwt":{},
//                        "genericOAuth":{"config":[{providerId:…}]}}.
//                       Keys: twoFactor, admin, jwt, genericOAuth, bearer.
//   SOCIAL_PROVIDERS    JSON object passed as socialProviders (google,
//                       github, … with endpoint overrides for a fake IdP).
//   ACCOUNT_LINKING     JSON object passed as account.accountLinking.
//   FIELDS              JSON object: model → { field: column }, passed as
//                       <model>.fields, e.g. {"user":{"emailVerified":
//                       "email_verified"}} for a snake_case (Drizzle) schema.
//   GITHUB_URL          a fake GitHub's origin: the server's requests to
//                       https://github.com/ and https://api.github.com/ go
//                       there instead (Better Auth's github provider has
//                       its endpoints built in). The authorization URL it
//                       answers still names github.com.
//   RATE_LIMIT          "on" keeps Better Auth's default rate limits.
//   MIGRATE             "on" runs Better Auth's own migrate (getMigrations,
//                       as `npx @better-auth/cli migrate` does) for this
//                       configuration before listening: it creates or
//                       extends the tables, plugins' included. Better Auth
//                       checks the schema on the first request and answers
//                       500 SCHEMA_MISMATCH when a table or column it needs
//                       is missing, so without it the tables must exist.
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
import { admin, bearer, genericOAuth, jwt, twoFactor } from "better-auth/plugins";
import { getMigrations } from "better-auth/db/migration";
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

const baseURL = process.env.BASE_URL || `http://127.0.0.1:${PORT}`;
const trustedOrigins = (process.env.TRUSTED_ORIGINS || "")
	.split(",")
	.map((s) => s.trim())
	.filter(Boolean);

if (process.env.GITHUB_URL) {
	const fake = process.env.GITHUB_URL.replace(/\/$/, "");
	const realFetch = globalThis.fetch;
	globalThis.fetch = (input, init) => {
		const url = typeof input === "string" || input instanceof URL ? String(input) : input.url;
		for (const gh of ["https://github.com", "https://api.github.com"]) {
			if (url === gh || url.startsWith(gh + "/")) return realFetch(fake + url.slice(gh.length), init);
		}
		return realFetch(input, init);
	};
}

// pg.Pool's default of at most 10 connections is also auth_gate's.
const pool = new pg.Pool({ connectionString: DATABASE_URL });

const json = (name) => {
	const v = process.env[name];
	if (!v) return undefined;
	try {
		return JSON.parse(v);
	} catch (e) {
		console.error(`server.mjs: ${name} is not JSON: ${e.message}`);
		process.exit(2);
	}
};
const known = { admin, bearer, genericOAuth, jwt, twoFactor };
const plugins = Object.entries(json("PLUGINS") || {}).map(([name, opts]) => {
	if (!known[name]) {
		console.error(`server.mjs: unknown plugin ${name}; known: ${Object.keys(known).join(", ")}`);
		process.exit(2);
	}
	return known[name](opts);
});

const options = {
	database: pool,
	secret: BETTER_AUTH_SECRET,
	baseURL,
	basePath: process.env.BASE_PATH || "/auth",
	trustedOrigins,
	emailAndPassword: { enabled: true },
	rateLimit: { enabled: process.env.RATE_LIMIT === "on" },
	plugins,
	socialProviders: json("SOCIAL_PROVIDERS"),
	account: json("ACCOUNT_LINKING") ? { accountLinking: json("ACCOUNT_LINKING") } : undefined,
	telemetry: { enabled: false },
};
for (const [model, fields] of Object.entries(json("FIELDS") || {})) {
	options[model] = { ...options[model], fields };
}
if (process.env.MIGRATE === "on") {
	const { runMigrations } = await getMigrations(options);
	await runMigrations();
}
const auth = betterAuth(options);

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
