// The web UI in Debian's chromium against the real `mitmc web` (issue 13, "Must show"):
// the page loads with the token, a new flow appears live, clicking it shows headers and body,
// the intercept box holds a request until Resume, a header edited before resume reaches the
// upstream byte for byte, and the search box narrows the list.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { startMitmc, startUpstream, startBrowser, curl, waitFor, WAIT_MS, ROOT } from "./harness.mjs";

let mitmc, upstream, browser, page;

before(async () => {
    upstream = await startUpstream();
    mitmc = await startMitmc();
    browser = await startBrowser();
    page = browser.page;
});

after(async () => {
    if (browser) await browser.close();
    let exit = null;
    if (mitmc) exit = await mitmc.stop();
    if (upstream) await upstream.close();
    if (exit) assert.deepEqual({ code: exit.code, sig: exit.sig }, { code: 0, sig: null }, "mitmc exits 0 on SIGTERM:\n" + mitmc.output());
});

const row = (path) => page.locator("tr.flow-row", { hasText: path });

// a curl through the proxy with fixed headers, so the exact upstream bytes are known
function send(path, headers = []) {
    const args = ["-H", "User-Agent: mitmc-browser-test", "-H", "Proxy-Connection:"];
    for (const h of headers) args.push("-H", h);
    return curl(mitmc.proxyPort, upstream.url(path), args);
}

function expectedBody(path) {
    return JSON.stringify({ upstream: "mitmc-browser-test", method: "GET", target: path }) + "\n";
}

test("the page loads with the token and connects", async () => {
    const res = await page.goto(mitmc.url);
    assert.equal(res.status(), 200);
    await page.locator(".connection-indicator.conn-established").waitFor();
    assert.match(await page.title(), /mitmc/);
    // the token has done its job: the cookie carries the session, the address bar drops it
    assert.ok(!page.url().includes("token="), page.url());
    const cookies = await browser.ctx.cookies(mitmc.base);
    assert.ok(cookies.some((c) => c.httpOnly), "an HttpOnly auth cookie: " + JSON.stringify(cookies));
    assert.deepEqual(browser.errors, []);
});

test("a new flow appears live and clicking it shows headers and body", async () => {
    const r = await send("/live-1");
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, expectedBody("/live-1"));
    await row("/live-1").waitFor(); // no reload: it came over /updates
    await row("/live-1").click();
    const view = page.locator(".flow-view");
    await view.locator(".first-line", { hasText: "/live-1" }).waitFor();
    assert.match(await view.locator("table.headers").innerText(), /User-Agent:\s+mitmc-browser-test/);
    await view.locator("[data-tab=response]").click();
    await view.locator(".first-line", { hasText: "200" }).waitFor();
    assert.match(await view.locator("table.headers").innerText(), /X-Upstream:\s+raw/);
    const body = await view.locator(".cv-text").innerText();
    assert.match(body, /mitmc-browser-test/);
    assert.match(body, /\/live-1/);
    assert.deepEqual(browser.errors, []);
});

async function setIntercept(expr) {
    await page.keyboard.press("Escape"); // back to the flow list menu with the filter boxes
    await page.locator(".main-tabs [data-tab=flowlist]").click();
    const box = page.locator(".filter-intercept input");
    await box.fill(expr);
    await box.press("Enter");
    if (expr) await page.locator(".footer .intercept-filter", { hasText: expr }).waitFor();
    else await page.locator(".footer .intercept-filter").waitFor({ state: "detached" });
}

test("the intercept box holds a request and Resume releases it", async () => {
    await setIntercept("~q & ~u /held"); // ~q: the request only, not its response too
    const before = upstream.requests.length;
    const pending = send("/held-1");
    await row("/held-1").and(page.locator(".intercepted")).waitFor();
    assert.equal(pending.child.exit, null, "curl is still waiting");
    assert.equal(upstream.requests.filter((q) => q.target === "/held-1").length, 0, "the upstream saw nothing yet");
    await row("/held-1").click();
    await page.locator(".flow-menu .resume").click();
    const r = await pending;
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, expectedBody("/held-1"));
    assert.equal(upstream.requests.length, before + 1);
    await row("/held-1").and(page.locator(".intercepted")).waitFor({ state: "detached" });
    await setIntercept("");
});

test("a header edited before resume reaches the upstream", async () => {
    // the same request once without interception: what the upstream gets when nothing is edited
    const plain = await send("/edit-0", ["X-Edit-Me: before"]);
    assert.equal(plain.code, 0, plain.stderr);
    const unedited = upstream.requests.find((q) => q.target === "/edit-0").raw.toString("latin1");
    assert.match(unedited, /\r\nX-Edit-Me: before\r\n/);

    await setIntercept("~q & ~u /edit-1");
    const pending = send("/edit-1", ["X-Edit-Me: before"]);
    await row("/edit-1").and(page.locator(".intercepted")).waitFor();
    await row("/edit-1").click();
    const view = page.locator(".flow-view");
    await view.locator("[data-tab=request]").click();
    await view.locator(".edit-button").click();
    await view.locator('tr[data-header="X-Edit-Me"] input.header-value-input').fill("after");
    await view.locator(".save-edit").click();
    // the edit went through PUT /flows/<id>: the pushed update shows the new value
    await view.locator("table.headers", { hasText: "after" }).waitFor();
    assert.equal(pending.child.exit, null, "still held after the edit");
    await page.locator(".flow-menu .resume").click();
    const r = await pending;
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, expectedBody("/edit-1"));
    const got = upstream.requests.filter((q) => q.target === "/edit-1");
    assert.equal(got.length, 1);
    // byte for byte the unedited request, but for the path and the one header value
    assert.equal(
        got[0].raw.toString("latin1"),
        unedited.replace("GET /edit-0 ", "GET /edit-1 ").replace("\r\nX-Edit-Me: before\r\n", "\r\nX-Edit-Me: after\r\n"),
    );
    await setIntercept("");
});

test("the search box narrows the list", async () => {
    for (const p of ["/alpha-1", "/alpha-2", "/beta-1"]) {
        const r = await send(p);
        assert.equal(r.code, 0, r.stderr);
    }
    await page.keyboard.press("Escape");
    await page.locator(".main-tabs [data-tab=flowlist]").click();
    await row("/beta-1").waitFor();
    const total = await page.locator("tr.flow-row").count();
    assert.ok(total >= 3);
    const box = page.locator(".filter-search input");
    await box.fill("~u alpha");
    await box.press("Enter");
    await row("/beta-1").waitFor({ state: "detached" });
    await waitFor(async () => (await page.locator("tr.flow-row").count()) === 2, "exactly the two alpha flows");
    assert.equal(await row("/alpha-1").count(), 1);
    assert.equal(await row("/alpha-2").count(), 1);
    assert.match(await page.locator(".footer .flow-count").innerText(), new RegExp(`^2 of ${total} flows`));
    await box.fill("");
    await box.press("Enter");
    await row("/beta-1").waitFor();
    assert.equal(await page.locator("tr.flow-row").count(), total);
    assert.deepEqual(browser.errors, []);
});

test("a half-typed or refused search filter says why and keeps the list", async () => {
    const box = page.locator(".filter-search input");
    const total = await page.locator("tr.flow-row").count();
    await box.fill("~u");
    await box.press("Enter");
    await page.locator(".filter-search .filter-error", { hasText: "~u needs an argument" }).waitFor();
    assert.equal(await page.locator(".connection-indicator.conn-established").count(), 1);
    assert.equal(await page.locator("tr.flow-row").count(), total);
    // well-formed to the eye but not to the server: /updates is closed (as mitmproxy does),
    // the UI says so, reconnects and does not send it again
    await box.fill("~c notanumber");
    await box.press("Enter");
    await page.locator(".filter-search .filter-error", { hasText: "refused" }).waitFor();
    await page.locator(".connection-indicator.conn-established").waitFor();
    assert.equal(await page.locator("tr.flow-row").count(), total);
    await box.fill("");
    await box.press("Enter");
    await page.locator(".filter-search .filter-error").waitFor({ state: "detached" });
    assert.ok(/error processing message/i.test(mitmc.output()), "the server logged why it closed /updates");
    browser.errors.length = 0; // the close is logged by chromium as a failed WebSocket
});

test("the server's Content-Security-Policy allows the page's import map", async () => {
    // an inline import map runs only if script-src names its hash (docs/internals/web-frontend.md)
    const html = fs.readFileSync(path.join(ROOT, "web/index.html"), "utf8");
    const map = /<script type="importmap">([\s\S]*?)<\/script>/.exec(html)[1];
    const hash = "'sha256-" + crypto.createHash("sha256").update(map).digest("base64") + "'";
    const res = await fetch(mitmc.url, { signal: AbortSignal.timeout(WAIT_MS) });
    assert.equal(res.status, 200);
    const csp = res.headers.get("content-security-policy") || "";
    assert.match(csp, /script-src [^;]*'self'/, csp);
    assert.ok(csp.includes(hash), `script-src must allow ${hash}; the server sends: ${csp}`);
    assert.equal(await res.text(), html, "the embedded index.html is web/index.html");
});

test("a request without the token is refused", async () => {
    const res = await fetch(mitmc.base + "flows", { signal: AbortSignal.timeout(WAIT_MS) });
    assert.ok(res.status === 401 || res.status === 403, `status ${res.status}`);
});
