// social-client-test.mjs drives a social sign-in on an auth server with the
// OFFICIAL Better Auth browser client (createAuthClient from
// better-auth/client): signIn.social({provider, callbackURL}) answers
// {url, redirect}, the browser goes to the provider and back to the
// callback, and getSession then sees the new session.
//
//	node social-client-test.mjs <baseURL> <provider> <email> <name> <image>
//
// <baseURL> is the site's origin; the API lives under BASE_PATH (env,
// default /auth). <provider> is a configured provider id whose identity
// provider approves at once (a test's fake IdP) as the user with <email>,
// <name> and <image>, email verified; that user must not exist yet.
//
// Node is not a browser, so this script does what the browser would, as
// client-test.mjs does: a cookie jar for the site, and Origin on every
// request, both through the client's fetchOptions hooks. Where a browser
// would navigate (to the provider, then to the callback) it fetches with
// redirect: "manual" and follows one hop at a time, sending the site's
// cookies only to the site.
//
// TRACE=1 prints every exchange. One line per step; the first mismatch
// prints the step, the reason and the last exchange, and exits 1.

import { createAuthClient } from "better-auth/client";
import { Mismatch, check, isDate, isToken, show, storeSetCookies } from "./helpers.mjs";

const [baseURL, provider, email, name, image] = process.argv.slice(2);
if (!baseURL || !provider || !email || !name || image === undefined) {
	console.error("usage: node social-client-test.mjs <baseURL> <provider> <email> <name> <image>");
	process.exit(2);
}
const basePath = process.env.BASE_PATH || "/auth";
const origin = new URL(baseURL).origin;
const trace = process.env.TRACE === "1";

// ---------------------------------------------------------------- browser

const jar = new Map(); // the site's cookies
let last = null;

const cookieHeader = () => [...jar].map(([k, v]) => `${k}=${v}`).join("; ");

function record(method, url, r, body) {
	last = { method, url, status: r.status, statusText: r.statusText, location: r.headers.get("location"), setCookie: r.headers.getSetCookie(), body };
	if (trace) console.log(`  > ${method} ${url}\n  < ${r.status} location=${last.location} set-cookie=${show(last.setCookie)} ${body}`);
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
			last = { method: ctx.method, url: String(ctx.url) };
		},
		async onResponse(ctx) {
			record(last.method, last.url, ctx.response, await ctx.response.clone().text());
			storeSetCookies(jar, ctx.response.headers);
		},
	},
});

// navigate is one top-level navigation hop: a GET that sends the site's
// cookies only to the site, keeps what the site sets, and returns the
// redirect target.
async function navigate(url) {
	const toSite = new URL(url).origin === origin;
	last = { method: "GET", url };
	const r = await fetch(url, {
		redirect: "manual",
		headers: toSite && jar.size > 0 ? { cookie: cookieHeader(), accept: "text/html" } : { accept: "text/html" },
		signal: AbortSignal.timeout(10_000),
	});
	record("GET", url, r, await r.text());
	if (toSite) storeSetCookies(jar, r.headers);
	check(r.status === 302 || r.status === 303, `GET ${url}: ${r.status}, want a redirect`);
	const loc = r.headers.get("location");
	check(loc, `GET ${url}: ${r.status} without a Location`);
	return new URL(loc, url);
}

// ---------------------------------------------------------------- checks

const T = {
	id: [isToken, "a 32-character [A-Za-z0-9] id"],
	token: [isToken, "a 32-character [A-Za-z0-9] token"],
	string: [(v) => typeof v === "string", "a string"],
	bool: [(v) => typeof v === "boolean", "a boolean"],
	date: [isDate, "a Date"],
	stringOrNull: [(v) => v === null || typeof v === "string", "a string or null"],
	dateOrNull: [(v) => v === null || isDate(v), "a Date or null"],
	strings: [(v) => Array.isArray(v) && v.every((x) => typeof x === "string"), "an array of strings"],
	url: [(v) => typeof v === "string" && URL.canParse(v), "an absolute URL"],
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

function shape(obj, spec, path) {
	check(obj !== null && typeof obj === "object" && !Array.isArray(obj), `${path} is ${show(obj)}, want an object`);
	const want = Object.keys(spec).sort();
	const got = Object.keys(obj).sort();
	check(show(want) === show(got), `${path} keys ${show(got)}, want ${show(want)}`);
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

function failed(res, status, code, what) {
	check(res && typeof res === "object" && "data" in res && "error" in res, `${what}: the client returned ${show(res)}, not { data, error }`);
	check(res.error !== null && res.data === null, `${what}: data ${show(res.data)}, error ${show(res.error)}, want error ${status} ${code}`);
	check(res.error.status === status && res.error.code === code, `${what}: error ${show(res.error)}, want status ${status} code ${code}`);
	return res.error;
}

function sessionCookie() {
	for (const [k, v] of jar) {
		if (k === "better-auth.session_token" || k === "__Secure-better-auth.session_token") return decodeURIComponent(v);
	}
	return null;
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

const callbackPrefix = `${origin}${basePath}/callback/${provider}`;
const st = {};

console.log(`better-auth client signIn.social against ${baseURL}${basePath}, provider ${provider}, user ${email}`);

// start runs signIn.social and returns the provider URL it answered.
async function start(opts, what) {
	const d = ok(await client.signIn.social({ provider, ...opts }), { url: T.url, redirect: T.true }, what);
	return new URL(d.url);
}

// viaProvider goes to the provider and back to the callback, and returns
// where the callback sends the browser.
async function viaProvider(providerURL) {
	const cb = await navigate(providerURL.toString());
	check(cb.toString().startsWith(callbackPrefix + "?"), `the provider sent the browser to ${cb}, want ${callbackPrefix}?…`);
	return navigate(cb.toString());
}

await step("signIn.social (new user)", async () => {
	const u = await start({ callbackURL: "/dashboard", newUserCallbackURL: "/welcome", errorCallbackURL: "/oops" }, "signIn.social");
	st.providerOrigin = u.origin;
	check(u.origin !== origin, `signIn.social url ${u} is on the site, want the provider's`);
	return `${u.origin}${u.pathname}`;
});

await step("provider and callback (new user)", async () => {
	const u = await start({ callbackURL: "/dashboard", newUserCallbackURL: "/welcome", errorCallbackURL: "/oops" }, "signIn.social");
	const to = await viaProvider(u);
	check(to.origin === origin && to.pathname === "/welcome" && !to.searchParams.has("error"), `the callback sent a new user to ${to}, want ${origin}/welcome`);
	check(sessionCookie() !== null, `no session cookie after the callback (jar: ${show([...jar.keys()])})`);
	return `302 ${to.pathname}`;
});

await step("getSession (signed in through the provider)", async () => {
	const d = ok(await client.getSession(), { session: SESSION, user: USER }, "getSession");
	check(d.user.email === email && d.user.name === name && d.user.emailVerified === true && d.user.image === (image || null),
		`user ${show(d.user)}, want ${email}, name ${name}, verified, image ${image}`);
	check(sessionCookie().startsWith(d.session.token + "."), `session cookie is not the session's token`);
	st.userId = d.user.id;
	st.token = d.session.token;
	return `user ${d.user.id}`;
});

await step("signOut", async () => {
	ok(await client.signOut(), { success: T.true }, "signOut");
	ok(await client.getSession(), null, "getSession after signOut");
	return "";
});

await step("signIn.social again (existing user)", async () => {
	const to = await viaProvider(await start({ callbackURL: "/dashboard", newUserCallbackURL: "/welcome" }, "signIn.social"));
	check(to.origin === origin && to.pathname === "/dashboard", `the callback sent an existing user to ${to}, want ${origin}/dashboard`);
	const d = ok(await client.getSession(), { session: SESSION, user: USER }, "getSession");
	check(d.user.id === st.userId && d.session.token !== st.token, `session ${show(d.session)} of user ${d.user.id}, want a new session of ${st.userId}`);
	return `302 ${to.pathname}, same user`;
});

await step("getAccessToken, refreshToken (the provider account's tokens)", async () => {
	const list = await client.listAccounts();
	check(list.error === null && Array.isArray(list.data), `listAccounts: ${show(list)}`);
	const acc = list.data.find((a) => a.providerId === provider);
	check(acc, `listAccounts ${show(list.data)} has no ${provider} account`);
	const TOKENS = { accessToken: T.string, accessTokenExpiresAt: T.date, scopes: T.strings, idToken: T.string };
	const stored = ok(await client.getAccessToken({ accountId: acc.id }), TOKENS, "getAccessToken");
	const fresh = ok(await client.refreshToken({ accountId: acc.id }), {
		accessToken: T.string, refreshToken: T.string, accessTokenExpiresAt: T.date, refreshTokenExpiresAt: T.dateOrNull,
		scope: T.stringOrNull, idToken: T.string, providerId: T.string, accountId: T.string,
	}, "refreshToken");
	check(fresh.accessToken !== stored.accessToken && fresh.providerId === provider && fresh.accountId === acc.id,
		`refreshToken ${show(fresh)} after getAccessToken ${show(stored)}, want a new access token of account ${acc.id}`);
	const again = ok(await client.getAccessToken({ accountId: acc.id }), TOKENS, "getAccessToken after refreshToken");
	check(again.accessToken === fresh.accessToken, `getAccessToken ${show(again.accessToken)}, want the refreshed ${show(fresh.accessToken)}`);
	const e = failed(await client.getAccessToken({ accountId: "no-such-account" }), 400, "ACCOUNT_NOT_FOUND", "getAccessToken");
	return `refreshed; unknown account ${e.status} ${e.code}`;
});

await step("accountInfo (the provider's current view of the account)", async () => {
	const list = await client.listAccounts();
	const acc = list.data.find((a) => a.providerId === provider);
	const res = await client.accountInfo({ query: { accountId: acc.id } });
	check(res.error === null && res.data, `accountInfo: ${show(res)}`);
	const d = res.data;
	check(show(Object.keys(d)) === show(["user", "data", "account"]), `accountInfo keys ${show(Object.keys(d))}`);
	ok({ data: d.user, error: null }, { email: T.string, emailVerified: T.bool, image: T.string, name: T.string }, "accountInfo user");
	ok({ data: d.account, error: null }, { id: T.string, providerId: T.string, accountId: T.string }, "accountInfo account");
	check(d.user.email === email && d.user.name === name && d.user.emailVerified === true,
		`accountInfo user ${show(d.user)}, want ${email}, ${name}, verified`);
	check(d.account.id === acc.id && d.account.providerId === provider && d.account.accountId === acc.accountId,
		`accountInfo account ${show(d.account)}, want ${show(acc)}`);
	check(show(Object.keys(d.data).slice(0, 3)) === show(["id", "emailVerified", "image"]) && d.data.id === d.data.sub &&
		d.data.email === email && d.data.image === d.data.picture,
		`accountInfo data ${show(d.data)}, want the id_token's claims after id, emailVerified and image`);
	const e = failed(await client.accountInfo({ query: { accountId: acc.id, extra: "1" } }), 400, "VALIDATION_ERROR", "accountInfo");
	return `user ${d.user.email}; data keys ${Object.keys(d.data).join(",")}; unknown key ${e.status} ${e.code}`;
});

await step("two sign-ins in two tabs: the first tab's callback", async () => {
	jar.clear();
	// The second start replaces the first's state cookie, so the first
	// tab's callback no longer matches and is refused, to its error URL.
	const first = await start({ callbackURL: "/dashboard", errorCallbackURL: "/oops" }, "signIn.social (tab 1)");
	await start({ callbackURL: "/dashboard", errorCallbackURL: "/oops" }, "signIn.social (tab 2)");
	const to = await viaProvider(first);
	check(to.pathname === "/oops" && to.searchParams.get("error") === "state_mismatch", `the first tab's callback redirected to ${to}, want /oops?error=state_mismatch`);
	check(sessionCookie() === null, "a session cookie after a refused callback");
	ok(await client.getSession(), null, "getSession after a refused callback");
	return `302 ${to.pathname}${to.search}`;
});

await step("signIn.social (disableRedirect)", async () => {
	const d = ok(await client.signIn.social({ provider, callbackURL: "/dashboard", disableRedirect: true }),
		{ url: T.url, redirect: T.false }, "signIn.social");
	check(new URL(d.url).origin === st.providerOrigin, `url ${d.url}, want the provider's`);
	return "redirect false";
});

await step("signIn.social (unknown provider)", async () => {
	const e = failed(await client.signIn.social({ provider: "no-such-provider", callbackURL: "/dashboard" }), 404, "PROVIDER_NOT_FOUND", "signIn.social");
	return `${e.status} ${e.code}`;
});

await step("signIn.social (foreign callbackURL)", async () => {
	const e = failed(await client.signIn.social({ provider, callbackURL: "https://evil.example/x" }), 403, "INVALID_CALLBACK_URL", "signIn.social");
	return `${e.status} ${e.code}`;
});

console.log(`PASS    all ${n} steps`);
