// client-test.mjs drives an auth server with the OFFICIAL Better Auth browser
// client (createAuthClient from better-auth/client), the way a web app does,
// and checks the shape of every { data, error } the client hands back.
//
//	node client-test.mjs <baseURL> <mailboxURL>
//
// <baseURL> is the site's origin (http://127.0.0.1:8080); the API lives under
// BASE_PATH (env, default /auth, auth_gate's default; a stock Better Auth
// server uses /api/auth). <mailboxURL> serves GET /last?to=<email> with the
// last email webhook body ({type,to,url,token,user}) sent to that address.
//
// Node is not a browser, so this script does what the browser would:
//   - a cookie jar: Set-Cookie from every response is kept (Max-Age<=0 or a
//     past Expires deletes) and sent back as Cookie on every request;
//   - Origin: <site origin> on every request. Node's fetch sends
//     sec-fetch-mode: cors but no Origin, which Better Auth's CSRF rule
//     refuses (403 MISSING_OR_NULL_ORIGIN).
// Both are done through the client's own fetch hooks (fetchOptions.onRequest
// and fetchOptions.onResponse, which Better Auth's client wires into
// better-fetch as its "lifecycle-hooks" plugin), so every request the client
// builds is sent exactly as it built it, plus those two headers.
//
// TRACE=1 prints every exchange. One line per step; the first mismatch prints the step, the reason and the
// last HTTP exchange, and exits 1. Exit 0 means every step passed.

import { createAuthClient } from "better-auth/client";
import { Mismatch, check, isDate, isToken, show, storeSetCookies } from "./helpers.mjs";

const [baseURL, mailboxURL] = process.argv.slice(2);
if (!baseURL || !mailboxURL) {
	console.error("usage: node client-test.mjs <baseURL> <mailboxURL>");
	process.exit(2);
}
const basePath = process.env.BASE_PATH || "/auth";
const origin = new URL(baseURL).origin;
const trace = process.env.TRACE === "1"; // print every exchange

// ---------------------------------------------------------------- browser

const jar = new Map(); // cookie name -> value, as the server sent it
let last = null; // the last exchange, for failure reports

function cookieHeader(cookies = jar) {
	return [...cookies].map(([k, v]) => `${k}=${v}`).join("; ");
}

const client = createAuthClient({
	baseURL,
	basePath,
	fetchOptions: {
		timeout: 20_000,
		onRequest(ctx) {
			ctx.headers.set("origin", origin);
			if (jar.size > 0) ctx.headers.set("cookie", cookieHeader());
			else ctx.headers.delete("cookie");
			last = {
				method: ctx.method,
				url: String(ctx.url),
				sent: typeof ctx.body === "string" ? ctx.body : "",
			};
		},
		async onResponse(ctx) {
			const r = ctx.response;
			last = {
				...last,
				status: r.status,
				statusText: r.statusText,
				contentType: r.headers.get("content-type"),
				setCookie: r.headers.getSetCookie(),
				body: await r.clone().text(),
			};
			storeSetCookies(jar, r.headers);
			if (trace) {
				console.log(`  > ${last.method} ${last.url} origin=${ctx.request.headers.get("origin")} cookie=${show(ctx.request.headers.get("cookie"))} content-type=${show(ctx.request.headers.get("content-type"))}${last.sent ? " " + last.sent : ""}`);
				console.log(`  < ${last.status} content-type=${show(last.contentType)} set-cookie=${show(last.setCookie)} ${last.body}`);
			}
		},
	},
});

// ---------------------------------------------------------------- checks

const warnings = [];

// Field checkers. Dates must arrive as Date objects: the client's JSON
// parser turns ISO-8601 strings into Dates, so a string here means the
// server's date format is one the client does not recognise.
const T = {
	id: [isToken, "a 32-character [A-Za-z0-9] id"],
	token: [isToken, "a 32-character [A-Za-z0-9] token"],
	string: [(v) => typeof v === "string", "a string"],
	bool: [(v) => typeof v === "boolean", "a boolean"],
	date: [isDate, "a Date (an ISO-8601 string the client parsed)"],
	stringOrNull: [(v) => v === null || typeof v === "string", "a string or null"],
	true: [(v) => v === true, "true"],
	false: [(v) => v === false, "false"],
};

const USER = {
	id: T.id, name: T.string, email: T.string, emailVerified: T.bool,
	image: T.stringOrNull, createdAt: T.date, updatedAt: T.date,
};
const SESSION = {
	id: T.id, token: T.token, userId: T.id, expiresAt: T.date, createdAt: T.date,
	updatedAt: T.date, ipAddress: T.stringOrNull, userAgent: T.stringOrNull,
};

// shape checks that obj has exactly the keys of spec, each of its type;
// a spec value may be a nested spec object.
function shape(obj, spec, path) {
	check(obj !== null && typeof obj === "object" && !Array.isArray(obj), `${path} is ${show(obj)}, want an object`);
	const want = Object.keys(spec).sort();
	const got = Object.keys(obj).sort();
	const missing = want.filter((k) => !got.includes(k));
	const extra = got.filter((k) => !want.includes(k));
	check(missing.length === 0 && extra.length === 0,
		`${path} keys ${show(got)}, want ${show(want)}` +
		(missing.length ? `; missing ${show(missing)}` : "") + (extra.length ? `; unexpected ${show(extra)}` : ""));
	for (const [k, t] of Object.entries(spec)) {
		if (Array.isArray(t)) check(t[0](obj[k]), `${path}.${k} is ${show(obj[k])}, want ${t[1]}`);
		else shape(obj[k], t, `${path}.${k}`);
	}
	return obj;
}

// ok checks a successful client result: error null, data of the shape.
function ok(res, spec, what) {
	check(res && typeof res === "object" && "data" in res && "error" in res, `${what}: the client returned ${show(res)}, not { data, error }`);
	check(res.error === null, `${what}: error ${show(res.error)} (status ${res.error?.status}), want success`);
	if (spec === null) check(res.data === null, `${what}: data is ${show(res.data)}, want null`);
	else shape(res.data, spec, `${what}: data`);
	return res.data;
}

// failed checks a refused client result: data null, error with the code.
function failed(res, status, code, what) {
	check(res && typeof res === "object" && "data" in res && "error" in res, `${what}: the client returned ${show(res)}, not { data, error }`);
	check(res.error !== null, `${what}: succeeded with data ${show(res.data)}, want error ${status} ${code}`);
	check(res.data === null, `${what}: data is ${show(res.data)} alongside an error, want null`);
	check(res.error.status === status && res.error.code === code,
		`${what}: error ${show(res.error)}, want status ${status} code ${code}`);
	check(typeof res.error.message === "string" && res.error.message !== "", `${what}: error has no message: ${show(res.error)}`);
	return res.error;
}

function sessionCookie() {
	for (const [k, v] of jar) {
		if (k === "better-auth.session_token" || k === "__Secure-better-auth.session_token") return decodeURIComponent(v);
	}
	return null;
}

// cookieIs checks that the jar holds the session cookie of token, signed.
function cookieIs(token, what) {
	const c = sessionCookie();
	check(c !== null, `${what}: no better-auth.session_token cookie was set (jar: ${show([...jar.keys()])})`);
	check(c.startsWith(token + ".") && c.length > token.length + 1,
		`${what}: session cookie ${show(c)} is not "<token>.<signature>" for token ${token}`);
}

function warn(msg) {
	warnings.push(msg);
	console.log(`warn    ${msg}`);
}

let n = 0;
async function step(name, fn) {
	n++;
	const label = `${String(n).padStart(2, "0")} ${name}`;
	last = null;
	try {
		const detail = await fn();
		console.log(`ok      ${label}${detail ? ": " + detail : ""}`);
	} catch (e) {
		console.log(`FAIL    ${label}: ${e instanceof Mismatch ? e.message : e?.stack || e}`);
		if (last) {
			const body = last.body === undefined ? "(no response)" : show(last.body.length > 2000 ? last.body.slice(0, 2000) + "…" : last.body);
			console.log(`        last request: ${last.method} ${last.url}${last.sent ? " " + last.sent : ""}`);
			if (last.status !== undefined) {
				console.log(`        answer: ${last.status} ${last.statusText} content-type=${show(last.contentType)} set-cookie=${show(last.setCookie)}`);
			}
			console.log(`        body: ${body}`);
			if (last.status === 429) console.log("        (rate limited: run the server with rate limiting off, e.g. auth_gate { rate_limit off })");
		}
		console.log(`FAILED at step ${label}`);
		process.exit(1);
	}
}

// ---------------------------------------------------------------- the flow

const tag = `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 8)}`;
const email = `client-${tag}@example.com`;
const pw1 = "first-password-123";
const pw2 = "second-password-456";
const pw3 = "third-password-789";
const st = {};

console.log(`better-auth client against ${baseURL}${basePath}, user ${email}`);

await step("signUp.email", async () => {
	const d = ok(await client.signUp.email({ name: "Alice", email, password: pw1 }), { token: T.token, user: USER }, "signUp.email");
	check(d.user.email === email && d.user.name === "Alice" && d.user.emailVerified === false && d.user.image === null,
		`user ${show(d.user)}, want name Alice, email ${email}, emailVerified false, image null`);
	cookieIs(d.token, "signUp.email");
	st.userId = d.user.id;
	st.signUpToken = d.token;
	return `user ${d.user.id}`;
});

await step("signIn.email", async () => {
	const d = ok(await client.signIn.email({ email, password: pw1 }), { redirect: T.false, token: T.token, user: USER }, "signIn.email");
	check(d.user.id === st.userId, `user.id ${d.user.id}, want ${st.userId}`);
	check(d.token !== st.signUpToken, "sign-in returned the sign-up session's token");
	cookieIs(d.token, "signIn.email");
	st.tokenA = d.token;
	return "session A";
});

await step("getSession", async () => {
	const d = ok(await client.getSession(), { session: SESSION, user: USER }, "getSession");
	check(d.session.token === st.tokenA, `session.token ${d.session.token}, want the signed-in session's ${st.tokenA}`);
	check(d.session.userId === st.userId && d.user.id === st.userId, `session.userId ${d.session.userId} / user.id ${d.user.id}, want ${st.userId}`);
	check(d.session.expiresAt > new Date(), `session.expiresAt ${show(d.session.expiresAt)} is in the past`);
	check(d.user.email === email, `user.email ${d.user.email}, want ${email}`);
	return `session ${d.session.id}, expires ${d.session.expiresAt.toISOString()}`;
});

await step("signIn.email (second session)", async () => {
	const d = ok(await client.signIn.email({ email, password: pw1 }), { redirect: T.false, token: T.token, user: USER }, "signIn.email");
	check(d.token !== st.tokenA, "the second sign-in returned the first session's token");
	cookieIs(d.token, "signIn.email");
	st.tokenB = d.token;
	return "session B";
});

async function listTokens(what) {
	const res = await client.listSessions();
	check(res && res.error === null, `${what}: error ${show(res?.error)} (status ${res?.error?.status}), want success`);
	check(Array.isArray(res.data), `${what}: data is ${show(res.data)}, want an array of sessions`);
	res.data.forEach((s, i) => {
		shape(s, SESSION, `${what}: data[${i}]`);
		check(s.userId === st.userId, `${what}: data[${i}].userId ${s.userId}, want ${st.userId}`);
	});
	return res.data.map((s) => s.token);
}

await step("listSessions", async () => {
	const tokens = await listTokens("listSessions");
	for (const [name, t] of [["A", st.tokenA], ["B", st.tokenB], ["sign-up", st.signUpToken]]) {
		check(tokens.includes(t), `session ${name} (${t}) is not listed: ${show(tokens)}`);
	}
	return `${tokens.length} sessions`;
});

await step("revokeSession (session A, from B)", async () => {
	ok(await client.revokeSession({ token: st.tokenA }), { status: T.true }, "revokeSession");
	cookieIs(st.tokenB, "revokeSession (the caller's cookie must stay)");
	const tokens = await listTokens("listSessions after revokeSession");
	check(!tokens.includes(st.tokenA), `session A is still listed after its revocation: ${show(tokens)}`);
	check(tokens.includes(st.tokenB), `the caller's session B is gone: ${show(tokens)}`);
	return `${tokens.length} sessions left`;
});

await step("updateUser({name})", async () => {
	ok(await client.updateUser({ name: "Alice Updated" }), { status: T.true }, "updateUser");
	return "";
});

await step("getSession (new name)", async () => {
	const d = ok(await client.getSession(), { session: SESSION, user: USER }, "getSession");
	check(d.user.name === "Alice Updated", `user.name ${show(d.user.name)}, want "Alice Updated"`);
	check(d.session.token === st.tokenB, `session.token ${d.session.token}, want session B ${st.tokenB}`);
	return "";
});

await step("changePassword (revokeOtherSessions)", async () => {
	const d = ok(await client.changePassword({ currentPassword: pw1, newPassword: pw2, revokeOtherSessions: true }),
		{ token: T.token, user: USER }, "changePassword");
	check(d.token !== st.tokenB, "changePassword with revokeOtherSessions returned the old session's token, want a new one");
	check(d.user.id === st.userId && d.user.name === "Alice Updated", `user ${show(d.user)}`);
	cookieIs(d.token, "changePassword");
	st.tokenC = d.token;
	const s = ok(await client.getSession(), { session: SESSION, user: USER }, "getSession after changePassword");
	check(s.session.token === st.tokenC, `getSession after changePassword: session.token ${s.session.token}, want the new ${st.tokenC}`);
	const tokens = await listTokens("listSessions after changePassword");
	check(tokens.length === 1 && tokens[0] === st.tokenC, `sessions after changePassword ${show(tokens)}, want only the new ${st.tokenC}`);
	return "new session C, others revoked";
});

await step("signOut", async () => {
	const before = new Map(jar);
	ok(await client.signOut(), { success: T.true }, "signOut");
	check(sessionCookie() === null, `signOut left the session cookie: ${show([...jar])}`);
	st.signedOutJar = before;
	return "";
});

await step("getSession (signed out)", async () => {
	ok(await client.getSession(), null, "getSession");
	// The browser dropped the cookie; a copy kept from before must be dead too.
	const kept = new Map(jar);
	st.signedOutJar.forEach((v, k) => jar.set(k, v));
	try {
		ok(await client.getSession(), null, "getSession with the signed-out cookie replayed");
	} finally {
		jar.clear();
		kept.forEach((v, k) => jar.set(k, v));
	}
	return "null, also with the old cookie";
});

const RESET_MESSAGE = "If this email exists in our system, check your email for the reset link";

await step("requestPasswordReset", async () => {
	const d = ok(await client.requestPasswordReset({ email, redirectTo: "/reset" }), { status: T.true, message: T.string }, "requestPasswordReset");
	if (d.message !== RESET_MESSAGE) warn(`requestPasswordReset message ${show(d.message)}, Better Auth says ${show(RESET_MESSAGE)}`);
	return "";
});

await step("mailbox: reset email", async () => {
	const url = `${mailboxURL.replace(/\/$/, "")}/last?to=${encodeURIComponent(email)}`;
	let msg = null;
	let lastAnswer = "";
	for (const deadline = Date.now() + 10_000; Date.now() < deadline;) {
		const r = await fetch(url, { signal: AbortSignal.timeout(5_000) });
		lastAnswer = `${r.status} ${await r.clone().text()}`;
		if (r.status === 200) {
			msg = await r.json();
			break;
		}
		await new Promise((res) => setTimeout(res, 100));
	}
	check(msg !== null, `no email reached the mailbox for ${email} within 10s (GET ${url}: ${lastAnswer})`);
	check(msg && typeof msg === "object" && !Array.isArray(msg), `mailbox message is ${show(msg)}, want an object`);
	const want = ["to", "token", "type", "url", "user"];
	check(show(Object.keys(msg).sort()) === show(want), `email webhook keys ${show(Object.keys(msg).sort())}, want ${show(want)}`);
	check(typeof msg.type === "string" && msg.type !== "", `email type ${show(msg.type)}, want a non-empty string`);
	check(msg.to === email, `email to ${show(msg.to)}, want ${email}`);
	check(typeof msg.token === "string" && msg.token !== "", `email token ${show(msg.token)}, want a string`);
	check(msg.user && msg.user.id === st.userId && msg.user.email === email, `email user ${show(msg.user)}, want user ${st.userId} <${email}>`);
	check(typeof msg.url === "string", `email url ${show(msg.url)}, want a string`);
	const u = new URL(msg.url, baseURL);
	const wantPath = `${basePath}/reset-password/${msg.token}`;
	check(u.origin === origin && u.pathname === wantPath && u.searchParams.get("callbackURL") === "/reset",
		`email url ${msg.url}, want ${origin}${wantPath}?callbackURL=%2Freset`);
	st.mail = msg;
	return `type ${show(msg.type)}, ${msg.url}`;
});

await step("open the reset link (browser navigation)", async () => {
	last = { method: "GET", url: st.mail.url, sent: "" };
	const r = await fetch(st.mail.url, { redirect: "manual", headers: { accept: "text/html" }, signal: AbortSignal.timeout(10_000) });
	last = { ...last, status: r.status, statusText: r.statusText, contentType: r.headers.get("content-type"), setCookie: r.headers.getSetCookie(), body: await r.text() };
	const loc = r.headers.get("location");
	check(r.status === 302 && loc, `GET ${st.mail.url}: ${r.status} location ${show(loc)}, want 302 to /reset?token=…`);
	const to = new URL(loc, st.mail.url);
	check(to.pathname === "/reset" && to.searchParams.get("token") === st.mail.token && !to.searchParams.has("error"),
		`reset link redirects to ${loc}, want /reset?token=${st.mail.token}`);
	st.resetToken = to.searchParams.get("token");
	return `302 ${loc}`;
});

await step("resetPassword", async () => {
	ok(await client.resetPassword({ newPassword: pw3, token: st.resetToken }), { status: T.true }, "resetPassword");
	return "";
});

await step("signIn.email (new password)", async () => {
	const d = ok(await client.signIn.email({ email, password: pw3 }), { redirect: T.false, token: T.token, user: USER }, "signIn.email");
	cookieIs(d.token, "signIn.email");
	st.tokenD = d.token;
	return "";
});

await step("signIn.email (old password refused)", async () => {
	const e = failed(await client.signIn.email({ email, password: pw2 }), 401, "INVALID_EMAIL_OR_PASSWORD", "signIn.email");
	cookieIs(st.tokenD, "signIn.email refused (the existing cookie must stay)");
	return `${e.status} ${e.code}`;
});

await step("revokeSessions", async () => {
	const before = new Map(jar);
	ok(await client.revokeSessions(), { status: T.true }, "revokeSessions");
	if (sessionCookie() !== null) warn("revokeSessions did not expire the session cookie (Better Auth does)");
	st.revokedJar = before;
	return "";
});

await step("getSession (all revoked)", async () => {
	ok(await client.getSession(), null, "getSession");
	jar.clear();
	st.revokedJar.forEach((v, k) => jar.set(k, v));
	ok(await client.getSession(), null, "getSession with the revoked cookie replayed");
	return "null, also with the old cookie";
});

console.log(`PASS    all ${n} steps${warnings.length ? `, ${warnings.length} warning(s)` : ""}`);
