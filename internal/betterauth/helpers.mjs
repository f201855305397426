// helpers.mjs: what the client scripts (client-test.mjs,
// social-client-test.mjs, admin-client-test.mjs) share: a browser's cookie
// jar and the checks' vocabulary.

// storeSetCookies applies a response's Set-Cookie lines to jar (a Map of
// name → value), as a browser would: Max-Age<=0 or a past Expires deletes.
export function storeSetCookies(jar, headers) {
	for (const line of headers.getSetCookie()) {
		const [pair, ...attrs] = line.split(";");
		const eq = pair.indexOf("=");
		if (eq < 1) continue;
		const name = pair.slice(0, eq).trim();
		const value = pair.slice(eq + 1).trim();
		let expired = false;
		for (const a of attrs) {
			const i = a.indexOf("=");
			const k = (i < 0 ? a : a.slice(0, i)).trim().toLowerCase();
			const v = i < 0 ? "" : a.slice(i + 1).trim();
			if (k === "max-age" && Number(v) <= 0) expired = true;
			if (k === "expires" && Date.parse(v) <= Date.now()) expired = true;
		}
		if (expired) jar.delete(name);
		else jar.set(name, value);
	}
}

// Mismatch is a failed check: the scripts report it with the last exchange.
export class Mismatch extends Error {}

export function check(cond, msg) {
	if (!cond) throw new Mismatch(msg);
}

// show prints a value for a message, Dates marked as such.
export function show(v) {
	if (v instanceof Date) return `Date(${v.toISOString()})`;
	try {
		return JSON.stringify(v, (k, x) => (x instanceof Date ? `Date(${x.toISOString()})` : x));
	} catch {
		return String(v);
	}
}

export const isToken = (v) => typeof v === "string" && /^[A-Za-z0-9]{32}$/.test(v);
export const isDate = (v) => v instanceof Date && !Number.isNaN(v.getTime());
