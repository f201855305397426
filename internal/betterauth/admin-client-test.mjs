// admin-client-test.mjs drives the admin plugin's endpoints of an auth
// server with the OFFICIAL Better Auth browser client and its admin plugin
// (createAuthClient({ plugins: [adminClient()] }) from better-auth/client
// and better-auth/client/plugins), and checks every { data, error } the
// client hands back, as client-test.mjs does for the core endpoints.
//
//	node admin-client-test.mjs <baseURL> <promoteURL>
//
// <baseURL> is the site's origin; the API lives under BASE_PATH (env,
// default /auth). The server runs the admin plugin with its defaults (role
// "admin" may do everything, "user" nothing) and without rate limits (the
// flow signs in often). <promoteURL> is the test's hook that makes a user
// an admin: POST <promoteURL>?email=<email> answers 204 once the user's
// role is "admin" in the database (there is no API for the first admin).
//
// Three people, each with their own cookie jar (a browser each): Pat, a
// plain user; Ada, who signs up and is promoted to admin; Carol, whom Ada
// creates and then acts on. Node is not a browser, so, as in client-test.mjs,
// the jar and an Origin header are added through the client's fetchOptions
// hooks; the requests are otherwise exactly as the client builds them.
//
// TRACE=1 prints every exchange. One line per step; the first mismatch
// prints the step, the reason and the last exchange, and exits 1.

import { createAuthClient } from "better-auth/client";
import { adminClient } from "better-auth/client/plugins";
import { Mismatch, check, isDate, isToken, show, storeSetCookies } from "./helpers.mjs";

const [baseURL, promoteURL] = process.argv.slice(2);
if (!baseURL || !promoteURL) {
	console.error("usage: node admin-client-test.mjs <baseURL> <promoteURL>");
	process.exit(2);
}
const basePath = process.env.BASE_PATH || "/auth";
const origin = new URL(baseURL).origin;
const trace = process.env.TRACE === "1";

// ---------------------------------------------------------------- browsers

let last = null;

// jars holds each browser's cookie jar (the client is a Proxy that does
// not keep properties set on it).
const jars = new Map();

// browser is one person's client with its own cookie jar.
function browser() {
	const jar = new Map();
	const client = createAuthClient({
		baseURL,
		basePath,
		plugins: [adminClient()],
		fetchOptions: {
			timeout: 20_000,
			onRequest(ctx) {
				ctx.headers.set("origin", origin);
				if (jar.size > 0) ctx.headers.set("cookie", [...jar].map(([k, v]) => `${k}=${v}`).join("; "));
				else ctx.headers.delete("cookie");
				last = { method: ctx.method, url: String(ctx.url), sent: typeof ctx.body === "string" ? ctx.body : "" };
			},
			async onResponse(ctx) {
				const r = ctx.response;
				last = { ...last, status: r.status, setCookie: r.headers.getSetCookie(), body: await r.clone().text() };
				storeSetCookies(jar, r.headers);
				if (trace) console.log(`  > ${last.method} ${last.url} ${last.sent}\n  < ${last.status} set-cookie=${show(last.setCookie)} ${last.body}`);
			},
		},
	});
	jars.set(client, jar);
	return client;
}

// ---------------------------------------------------------------- checks

// Dates must arrive as Date objects: the client's JSON parser turns
// ISO-8601 strings into Dates, so a string means a format it did not know.
const T = {
	id: [isToken, "a 32-character [A-Za-z0-9] id"],
	token: [isToken, "a 32-character [A-Za-z0-9] token"],
	string: [(v) => typeof v === "string", "a string"],
	number: [(v) => typeof v === "number", "a number"],
	bool: [(v) => typeof v === "boolean", "a boolean"],
	date: [isDate, "a Date (an ISO-8601 string the client parsed)"],
	dateOrNull: [(v) => v === null || isDate(v), "a Date or null"],
	stringOrNull: [(v) => v === null || typeof v === "string", "a string or null"],
	array: [Array.isArray, "an array"],
	true: [(v) => v === true, "true"],
	false: [(v) => v === false, "false"],
};
// With the admin plugin, a user carries role, banned, banReason and
// banExpires, and a session impersonatedBy.
const USER = {
	id: T.id, name: T.string, email: T.string, emailVerified: T.bool,
	image: T.stringOrNull, createdAt: T.date, updatedAt: T.date,
	role: T.stringOrNull, banned: T.bool, banReason: T.stringOrNull, banExpires: T.dateOrNull,
};
const SESSION = {
	id: T.id, token: T.token, userId: T.id, expiresAt: T.date, createdAt: T.date,
	updatedAt: T.date, ipAddress: T.stringOrNull, userAgent: T.stringOrNull, impersonatedBy: T.stringOrNull,
};

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

function ok(res, spec, what) {
	check(res && typeof res === "object" && "data" in res && "error" in res, `${what}: the client returned ${show(res)}, not { data, error }`);
	check(res.error === null, `${what}: error ${show(res.error)} (status ${res.error?.status}), want success`);
	if (spec === null) check(res.data === null, `${what}: data is ${show(res.data)}, want null`);
	else shape(res.data, spec, `${what}: data`);
	return res.data;
}

// MESSAGES are Better Auth's messages of the codes this flow meets
// (error-codes.mjs of the admin plugin and of the core).
const MESSAGES = {
	YOU_ARE_NOT_ALLOWED_TO_LIST_USERS: "You are not allowed to list users",
	YOU_ARE_NOT_ALLOWED_TO_CREATE_USERS: "You are not allowed to create users",
	YOU_ARE_NOT_ALLOWED_TO_BAN_USERS: "You are not allowed to ban users",
	YOU_ARE_NOT_ALLOWED_TO_CHANGE_USERS_ROLE: "You are not allowed to change users role",
	YOU_ARE_NOT_ALLOWED_TO_LIST_USERS_SESSIONS: "You are not allowed to list users sessions",
	YOU_ARE_NOT_ALLOWED_TO_IMPERSONATE_USERS: "You are not allowed to impersonate users",
	YOU_ARE_NOT_ALLOWED_TO_DELETE_USERS: "You are not allowed to delete users",
	YOU_CANNOT_BAN_YOURSELF: "You cannot ban yourself",
	YOU_CANNOT_REMOVE_YOURSELF: "You cannot remove yourself",
	YOU_CANNOT_IMPERSONATE_ADMINS: "You cannot impersonate admins",
	USER_ALREADY_EXISTS_USE_ANOTHER_EMAIL: "User already exists. Use another email.",
	USER_NOT_FOUND: "User not found",
	BANNED_USER: "You have been banned from this application. Please contact support if you believe this is an error.",
	INVALID_EMAIL_OR_PASSWORD: "Invalid email or password",
};

function failed(res, status, code, what) {
	check(res && typeof res === "object" && "data" in res && "error" in res, `${what}: the client returned ${show(res)}, not { data, error }`);
	check(res.error !== null, `${what}: succeeded with data ${show(res.data)}, want error ${status} ${code}`);
	check(res.data === null, `${what}: data is ${show(res.data)} alongside an error, want null`);
	check(res.error.status === status && res.error.code === code, `${what}: error ${show(res.error)}, want status ${status} code ${code}`);
	check(typeof res.error.message === "string" && res.error.message !== "", `${what}: error has no message: ${show(res.error)}`);
	check(!(code in MESSAGES) || res.error.message === MESSAGES[code], `${what}: message ${show(res.error.message)}, Better Auth says ${show(MESSAGES[code])}`);
	return res.error;
}

// users checks a list of users, each of the admin shape.
function users(list, what) {
	check(Array.isArray(list), `${what} is ${show(list)}, want an array`);
	list.forEach((u, i) => shape(u, USER, `${what}[${i}]`));
	return list;
}

function sessions(list, what) {
	check(Array.isArray(list), `${what} is ${show(list)}, want an array`);
	list.forEach((s, i) => shape(s, SESSION, `${what}[${i}]`));
	return list;
}

function sessionCookie(jar) {
	for (const [k, v] of jar) {
		if (k === "better-auth.session_token" || k === "__Secure-better-auth.session_token") return decodeURIComponent(v);
	}
	return null;
}

function isFresh(u, what, { role = "user", name, email } = {}) {
	check(u.role === role && u.banned === false && u.banReason === null && u.banExpires === null,
		`${what}: ${show(u)}, want role ${role}, banned false, banReason and banExpires null`);
	if (name !== undefined) check(u.name === name, `${what}: name ${show(u.name)}, want ${show(name)}`);
	if (email !== undefined) check(u.email === email, `${what}: email ${show(u.email)}, want ${email}`);
}

let n = 0;
async function step(label, fn) {
	n++;
	const tag = `${String(n).padStart(2, "0")} ${label}`;
	last = null;
	try {
		const detail = await fn();
		console.log(`ok      ${tag}${detail ? ": " + detail : ""}`);
	} catch (e) {
		console.log(`FAIL    ${tag}: ${e instanceof Mismatch ? e.message : e?.stack || e}`);
		if (last) console.log(`        last exchange: ${show(last)}`);
		console.log(`FAILED at step ${tag}`);
		process.exit(1);
	}
}

// ---------------------------------------------------------------- the flow

const tag = `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 8)}`;
const mail = (who) => `${who}-${tag}@example.com`;
const pw = "password-123-abc";
const carolPw1 = "carol-first-123";
const carolPw2 = "carol-second-456";
const pat = browser();
const ada = browser();
const carol = browser();
const st = {};

console.log(`better-auth admin client against ${baseURL}${basePath}, users *-${tag}@example.com`);

await step("signUp.email (Pat, a plain user)", async () => {
	const d = ok(await pat.signUp.email({ name: "Pat", email: mail("pat"), password: pw }), { token: T.token, user: USER }, "signUp.email");
	isFresh(d.user, "signUp.email user", { name: "Pat", email: mail("pat") });
	st.pat = d.user.id;
	return `user ${d.user.id}, role ${d.user.role}`;
});

await step("a plain user is refused (403, the endpoint's code)", async () => {
	const codes = [];
	for (const [what, call, code] of [
		["admin.listUsers", () => pat.admin.listUsers({ query: {} }), "YOU_ARE_NOT_ALLOWED_TO_LIST_USERS"],
		["admin.createUser", () => pat.admin.createUser({ email: mail("nobody"), password: pw, name: "No" }), "YOU_ARE_NOT_ALLOWED_TO_CREATE_USERS"],
		["admin.banUser", () => pat.admin.banUser({ userId: st.pat }), "YOU_ARE_NOT_ALLOWED_TO_BAN_USERS"],
		["admin.setRole", () => pat.admin.setRole({ userId: st.pat, role: "admin" }), "YOU_ARE_NOT_ALLOWED_TO_CHANGE_USERS_ROLE"],
		["admin.listUserSessions", () => pat.admin.listUserSessions({ userId: st.pat }), "YOU_ARE_NOT_ALLOWED_TO_LIST_USERS_SESSIONS"],
		["admin.impersonateUser", () => pat.admin.impersonateUser({ userId: st.pat }), "YOU_ARE_NOT_ALLOWED_TO_IMPERSONATE_USERS"],
		["admin.removeUser", () => pat.admin.removeUser({ userId: st.pat }), "YOU_ARE_NOT_ALLOWED_TO_DELETE_USERS"],
	]) {
		failed(await call(), 403, code, what);
		codes.push(code);
	}
	const d = ok(await pat.getSession(), { session: SESSION, user: USER }, "getSession after the refusals");
	check(d.user.role === "user", `Pat's role is ${show(d.user.role)} after the refusals`);
	return `${codes.length} endpoints`;
});

await step("signed out: 401 without a body", async () => {
	// The admin plugin's middleware throws APIError.fromStatus("UNAUTHORIZED"):
	// no code, no message, so the client's error is the status alone.
	const anon = browser();
	for (const [what, res] of [
		["admin.listUsers", await anon.admin.listUsers({ query: {} })],
		["admin.banUser", await anon.admin.banUser({ userId: st.pat })],
		["admin.stopImpersonating", await anon.admin.stopImpersonating()],
	]) {
		check(res && res.data === null && res.error !== null, `${what}: ${show(res)}, want an error`);
		shape(res.error, { status: [(v) => v === 401, "401"], statusText: [(v) => v === "Unauthorized", "Unauthorized"] }, `${what}: error`);
	}
	return "401 {status, statusText}";
});

await step("signUp.email (Ada), promoted to admin", async () => {
	const d = ok(await ada.signUp.email({ name: "Ada", email: mail("ada"), password: pw }), { token: T.token, user: USER }, "signUp.email");
	st.ada = d.user.id;
	st.adaToken = d.token;
	const r = await fetch(`${promoteURL}?email=${encodeURIComponent(mail("ada"))}`, { method: "POST", signal: AbortSignal.timeout(10_000) });
	check(r.status === 204, `POST ${promoteURL}: ${r.status} ${await r.text()}`);
	const s = ok(await ada.getSession(), { session: SESSION, user: USER }, "getSession");
	check(s.user.id === st.ada && s.user.role === "admin", `getSession user ${show(s.user)}, want Ada with role admin`);
	check(s.session.token === st.adaToken && s.session.impersonatedBy === null, `getSession session ${show(s.session)}, want Ada's own, impersonatedBy null`);
	return `user ${st.ada}`;
});

await step("admin.hasPermission (Pat, a plain user, and Ada, an admin)", async () => {
	const ANSWER = { error: [(v) => v === null, "null"], success: T.bool };
	const seen = [];
	for (const [who, client, permissions, want] of [
		["Pat", pat, { user: ["list"] }, false],
		["Ada", ada, { user: ["list"] }, true],
		["Ada", ada, { user: ["ban"], session: ["revoke"] }, true],
		["Ada", ada, { user: ["impersonate-admins"] }, false],
		["Ada", ada, { nope: ["x"] }, false],
	]) {
		const d = ok(await client.admin.hasPermission({ permissions }), ANSWER, `admin.hasPermission (${who}, ${show(permissions)})`);
		check(d.success === want, `admin.hasPermission (${who}, ${show(permissions)}): success ${d.success}, want ${want}`);
		seen.push(d.success);
	}
	return seen.join(" ");
});

await step("admin.createUser (Carol)", async () => {
	const d = ok(await ada.admin.createUser({ email: mail("Carol").replace("Carol", "CAROL"), password: carolPw1, name: "Carol", role: "user" }), { user: USER }, "admin.createUser");
	isFresh(d.user, "admin.createUser user", { name: "Carol", email: mail("carol") });
	check(d.user.emailVerified === false && d.user.image === null, `admin.createUser user ${show(d.user)}, want emailVerified false, image null`);
	st.carol = d.user.id;
	return `user ${d.user.id}, email lower-cased`;
});

await step("admin.createUser (taken email, role array)", async () => {
	const e = failed(await ada.admin.createUser({ email: mail("carol"), password: pw, name: "Carol 2" }), 400, "USER_ALREADY_EXISTS_USE_ANOTHER_EMAIL", "admin.createUser");
	const d = ok(await ada.admin.createUser({ email: mail("dan"), name: "Dan", role: ["user", "analyst"] }), { user: USER }, "admin.createUser (no password)");
	isFresh(d.user, "admin.createUser user", { role: "user,analyst", name: "Dan" });
	st.dan = d.user.id;
	return `${e.status} ${e.code}; Dan ${d.user.role}`;
});

const LIST = { users: T.array, total: T.number };
const PAGE = { users: T.array, total: T.number, limit: T.number, offset: T.number };

await step("admin.listUsers (search, sort, page)", async () => {
	// Four users carry the tag: ada, carol, dan, pat.
	let d = ok(await ada.admin.listUsers({ query: { searchValue: tag, searchField: "email", searchOperator: "contains", sortBy: "email", sortDirection: "asc" } }), LIST, "admin.listUsers");
	let emails = users(d.users, "admin.listUsers users").map((u) => u.email);
	check(d.total === 4 && show(emails) === show(["ada", "carol", "dan", "pat"].map(mail)), `admin.listUsers: total ${d.total}, ${show(emails)}, want the 4 tagged users by email`);

	d = ok(await ada.admin.listUsers({ query: { searchValue: tag, searchField: "email", sortBy: "email", sortDirection: "desc", limit: 2, offset: 1 } }), PAGE, "admin.listUsers (page)");
	emails = users(d.users, "admin.listUsers users").map((u) => u.email);
	check(d.total === 4 && d.limit === 2 && d.offset === 1 && show(emails) === show(["dan", "carol"].map(mail)),
		`admin.listUsers page: total ${d.total}, limit ${d.limit}, offset ${d.offset}, ${show(emails)}, want 4, 2, 1, [dan, carol]`);

	d = ok(await ada.admin.listUsers({ query: { searchValue: "Car", searchField: "name", searchOperator: "starts_with" } }), LIST, "admin.listUsers (name)");
	users(d.users, "admin.listUsers users");
	check(d.total === 1 && d.users.length === 1 && d.users[0].id === st.carol, `search by name "Car": ${show(d)}, want Carol alone`);
	isFresh(d.users[0], "Carol in the list", { name: "Carol" });

	d = ok(await ada.admin.listUsers({ query: { filterField: "role", filterValue: "admin", filterOperator: "eq" } }), LIST, "admin.listUsers (filter)");
	users(d.users, "admin.listUsers users");
	check(d.total === 1 && d.users[0]?.id === st.ada, `filter role=admin: ${show(d.users.map((u) => u.email))} total ${d.total}, want Ada alone`);
	return "search, sort, limit/offset, filter";
});

await step("admin.getUser", async () => {
	const u = shape(ok(await ada.admin.getUser({ query: { id: st.pat } }), USER, "admin.getUser"), USER, "admin.getUser");
	isFresh(u, "admin.getUser", { name: "Pat", email: mail("pat") });
	const e = failed(await ada.admin.getUser({ query: { id: "no-such-user" } }), 404, "USER_NOT_FOUND", "admin.getUser (unknown)");
	return `Pat; ${e.status} ${e.code}`;
});

await step("admin.setRole", async () => {
	let d = ok(await ada.admin.setRole({ userId: st.carol, role: ["analyst", "user"] }), { user: USER }, "admin.setRole");
	check(d.user.id === st.carol && d.user.role === "analyst,user", `admin.setRole user ${show(d.user)}, want Carol, role analyst,user`);
	d = ok(await ada.admin.setRole({ userId: st.carol, role: "user" }), { user: USER }, "admin.setRole");
	isFresh(d.user, "admin.setRole user");
	const e = failed(await ada.admin.setRole({ userId: "no-such-user", role: "user" }), 404, "USER_NOT_FOUND", "admin.setRole (unknown)");
	return `analyst,user then user; ${e.status} ${e.code}`;
});

await step("signIn.email (Carol, the password the admin set)", async () => {
	const d = ok(await carol.signIn.email({ email: mail("carol"), password: carolPw1 }), { redirect: T.false, token: T.token, user: USER }, "signIn.email");
	check(d.user.id === st.carol, `signed in as ${d.user.id}, want Carol`);
	st.carolToken = d.token;
	return "";
});

await step("admin.banUser", async () => {
	const before = Date.now();
	const d = ok(await ada.admin.banUser({ userId: st.carol, banReason: "spam", banExpiresIn: 3600 }), { user: USER }, "admin.banUser");
	const u = d.user;
	check(u.id === st.carol && u.banned === true && u.banReason === "spam" && isDate(u.banExpires),
		`admin.banUser user ${show(u)}, want Carol banned for spam, with banExpires`);
	const exp = u.banExpires.getTime();
	check(exp >= before + 3590_000 && exp <= Date.now() + 3610_000, `banExpires ${show(u.banExpires)}, want an hour from now`);
	ok(await carol.getSession(), null, "Carol's getSession after the ban");
	const e = failed(await ada.admin.banUser({ userId: st.ada }), 400, "YOU_CANNOT_BAN_YOURSELF", "admin.banUser (self)");
	return `banned until ${u.banExpires.toISOString()}; Carol's session gone; self: ${e.code}`;
});

await step("signIn.email (banned: 403 BANNED_USER)", async () => {
	const e = failed(await carol.signIn.email({ email: mail("carol"), password: carolPw1 }), 403, "BANNED_USER", "signIn.email");
	return `${e.status} ${e.code}`;
});

await step("admin.unbanUser", async () => {
	const d = ok(await ada.admin.unbanUser({ userId: st.carol }), { user: USER }, "admin.unbanUser");
	isFresh(d.user, "admin.unbanUser user");
	const s = ok(await carol.signIn.email({ email: mail("carol"), password: carolPw1 }), { redirect: T.false, token: T.token, user: USER }, "signIn.email after the unban");
	isFresh(s.user, "signIn.email user after the unban");
	st.carolToken = s.token;
	return "";
});

await step("admin.listUserSessions", async () => {
	const s2 = ok(await carol.signIn.email({ email: mail("carol"), password: carolPw1 }), { redirect: T.false, token: T.token, user: USER }, "signIn.email (second session)");
	st.carolToken2 = s2.token;
	const d = ok(await ada.admin.listUserSessions({ userId: st.carol }), { sessions: T.array }, "admin.listUserSessions");
	const tokens = sessions(d.sessions, "admin.listUserSessions sessions").map((s) => s.token);
	check(tokens.length === 2 && tokens.includes(st.carolToken) && tokens.includes(st.carolToken2), `Carol's sessions ${show(tokens)}, want her two`);
	check(d.sessions.every((s) => s.userId === st.carol && s.impersonatedBy === null), `sessions ${show(d.sessions)}, want Carol's own`);
	const none = ok(await ada.admin.listUserSessions({ userId: "no-such-user" }), { sessions: T.array }, "admin.listUserSessions (unknown)");
	check(none.sessions.length === 0, `an unknown user's sessions: ${show(none.sessions)}`);
	return "2 sessions";
});

await step("admin.revokeUserSession", async () => {
	ok(await ada.admin.revokeUserSession({ sessionToken: st.carolToken2 }), { success: T.true }, "admin.revokeUserSession");
	ok(await carol.getSession(), null, "Carol's getSession with the revoked session");
	const d = ok(await ada.admin.listUserSessions({ userId: st.carol }), { sessions: T.array }, "admin.listUserSessions");
	const tokens = sessions(d.sessions, "sessions").map((s) => s.token);
	check(show(tokens) === show([st.carolToken]), `Carol's sessions ${show(tokens)}, want only the first`);
	return "";
});

await step("admin.revokeUserSessions", async () => {
	ok(await carol.signIn.email({ email: mail("carol"), password: carolPw1 }), { redirect: T.false, token: T.token, user: USER }, "signIn.email");
	ok(await ada.admin.revokeUserSessions({ userId: st.carol }), { success: T.true }, "admin.revokeUserSessions");
	ok(await carol.getSession(), null, "Carol's getSession after revokeUserSessions");
	const d = ok(await ada.admin.listUserSessions({ userId: st.carol }), { sessions: T.array }, "admin.listUserSessions");
	check(d.sessions.length === 0, `Carol still has ${show(d.sessions)}`);
	const s = ok(await ada.getSession(), { session: SESSION, user: USER }, "Ada's getSession");
	check(s.session.token === st.adaToken, "Ada's own session changed");
	return "none left";
});

await step("admin.setUserPassword", async () => {
	ok(await ada.admin.setUserPassword({ userId: st.carol, newPassword: carolPw2 }), { status: T.true }, "admin.setUserPassword");
	const e = failed(await carol.signIn.email({ email: mail("carol"), password: carolPw1 }), 401, "INVALID_EMAIL_OR_PASSWORD", "signIn.email (old password)");
	const d = ok(await carol.signIn.email({ email: mail("carol"), password: carolPw2 }), { redirect: T.false, token: T.token, user: USER }, "signIn.email (new password)");
	check(d.user.id === st.carol, `signed in as ${d.user.id}`);
	const u = failed(await ada.admin.setUserPassword({ userId: "no-such-user", newPassword: carolPw2 }), 404, "USER_NOT_FOUND", "admin.setUserPassword (unknown)");
	return `old password ${e.code}, new works; unknown ${u.code}`;
});

await step("admin.impersonateUser", async () => {
	const e = failed(await ada.admin.impersonateUser({ userId: st.ada }), 403, "YOU_CANNOT_IMPERSONATE_ADMINS", "admin.impersonateUser (an admin)");
	const before = Date.now();
	const d = ok(await ada.admin.impersonateUser({ userId: st.carol }), { session: SESSION, user: USER }, "admin.impersonateUser");
	check(d.user.id === st.carol && d.session.userId === st.carol && d.session.impersonatedBy === st.ada,
		`admin.impersonateUser: session ${show(d.session)}, user ${d.user.id}, want Carol's session impersonated by Ada`);
	const exp = d.session.expiresAt.getTime();
	check(exp >= before + 3590_000 && exp <= Date.now() + 3610_000, `impersonation expiresAt ${show(d.session.expiresAt)}, want an hour from now`);
	check(sessionCookie(jars.get(ada))?.startsWith(d.session.token + "."), "Ada's session cookie is not the impersonation session");
	check([...jars.get(ada).keys()].some((k) => k.endsWith("better-auth.admin_session")), `no admin_session cookie: ${show([...jars.get(ada).keys()])}`);
	const s = ok(await ada.getSession(), { session: SESSION, user: USER }, "getSession while impersonating");
	check(s.user.id === st.carol && s.session.token === d.session.token && s.session.impersonatedBy === st.ada, `getSession ${show(s)}, want the impersonation`);
	st.impersonation = d.session.token;
	// Carol's own list does not show the admin's session.
	const mine = await carol.listSessions();
	check(mine.error === null && Array.isArray(mine.data), `Carol's listSessions: ${show(mine)}`);
	sessions(mine.data, "Carol's listSessions");
	check(!mine.data.some((x) => x.token === d.session.token), "Carol's listSessions shows the impersonation session");
	return `admins: ${e.code}; as Carol until ${d.session.expiresAt.toISOString()}`;
});

await step("admin.stopImpersonating", async () => {
	const d = ok(await ada.admin.stopImpersonating(), { session: SESSION, user: USER }, "admin.stopImpersonating");
	check(d.user.id === st.ada && d.session.token === st.adaToken && d.session.impersonatedBy === null,
		`admin.stopImpersonating: ${show(d)}, want Ada's own session back`);
	check(sessionCookie(jars.get(ada))?.startsWith(st.adaToken + "."), "Ada's cookie is not her own session again");
	check(![...jars.get(ada).keys()].some((k) => k.endsWith("better-auth.admin_session")), "the admin_session cookie stays");
	const s = ok(await ada.getSession(), { session: SESSION, user: USER }, "getSession");
	check(s.user.id === st.ada && s.user.role === "admin", `getSession ${show(s.user)}, want Ada`);
	const gone = ok(await ada.admin.listUserSessions({ userId: st.carol }), { sessions: T.array }, "admin.listUserSessions");
	check(!gone.sessions.some((x) => x.token === st.impersonation), "the impersonation session outlives stopImpersonating");
	// APIError.fromStatus("BAD_REQUEST", {message}): a message, no code.
	const e = await ada.admin.stopImpersonating();
	check(e.data === null && e.error !== null, `stopImpersonating when not impersonating: ${show(e)}, want an error`);
	shape(e.error, { status: [(v) => v === 400, "400"], statusText: [(v) => v === "Bad Request", "Bad Request"],
		message: [(v) => v === "You are not impersonating anyone", "You are not impersonating anyone"] }, "stopImpersonating error");
	return "Ada again; again: 400";
});

await step("admin.removeUser", async () => {
	const self = failed(await ada.admin.removeUser({ userId: st.ada }), 400, "YOU_CANNOT_REMOVE_YOURSELF", "admin.removeUser (self)");
	ok(await ada.admin.removeUser({ userId: st.carol }), { success: T.true }, "admin.removeUser");
	ok(await carol.getSession(), null, "Carol's getSession after removeUser");
	failed(await carol.signIn.email({ email: mail("carol"), password: carolPw2 }), 401, "INVALID_EMAIL_OR_PASSWORD", "signIn.email (removed)");
	failed(await ada.admin.getUser({ query: { id: st.carol } }), 404, "USER_NOT_FOUND", "admin.getUser (removed)");
	const d = ok(await ada.admin.listUsers({ query: { searchValue: tag } }), LIST, "admin.listUsers");
	check(d.total === 3 && !users(d.users, "users").some((u) => u.id === st.carol), `after removeUser: ${show(d.users.map((u) => u.email))}`);
	const e = failed(await ada.admin.removeUser({ userId: st.carol }), 404, "USER_NOT_FOUND", "admin.removeUser (again)");
	return `self: ${self.code}; again: ${e.code}`;
});

console.log(`PASS    all ${n} steps`);
