// The flow menu, keyboard, export, options, event log and command bar against the real
// `mitmc web`: each action is checked where it has its effect (the upstream, the server's
// /flows and /options, the page).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startMitmc, startUpstream, startBrowser, curl, waitFor } from "./harness.mjs";

let mitmc, upstream, browser, page;

before(async () => {
    upstream = await startUpstream();
    mitmc = await startMitmc();
    browser = await startBrowser();
    page = browser.page;
    for (const p of ["/act-1", "/act-2", "/act-3", "/replay-1", "/dup-1", "/del-1", "/mark-1", "/export-1"]) {
        const r = await curl(mitmc.proxyPort, upstream.url(p), ["-H", "User-Agent: mitmc-browser-test"]);
        assert.equal(r.code, 0, r.stderr);
    }
    await page.goto(mitmc.url);
    await page.locator(".connection-indicator.conn-established").waitFor();
    await row("/export-1").waitFor();
});

after(async () => {
    if (browser) await browser.close();
    let exit = null;
    if (mitmc) exit = await mitmc.stop();
    if (upstream) await upstream.close();
    if (exit) assert.deepEqual({ code: exit.code, sig: exit.sig }, { code: 0, sig: null }, "mitmc exits 0 on SIGTERM:\n" + mitmc.output());
});

const row = (path) => page.locator("tr.flow-row", { hasText: path });

// the server's own view of things, fetched by the page with its cookie
const serverFlows = () => page.evaluate(async () => (await fetch("./flows")).json());
const serverOptions = () => page.evaluate(async () => (await fetch("./options")).json());

async function focus(path) {
    await row(path).click();
    await page.locator(".flow-view [data-tab=request]").click();
    await page.locator(".flow-view .first-line", { hasText: path }).waitFor();
}

test("j and k move the selection", async () => {
    await focus("/act-2");
    await page.keyboard.press("j");
    await page.locator("tr.flow-row.focused", { hasText: "/act-3" }).waitFor();
    await page.keyboard.press("k");
    await page.keyboard.press("k");
    await page.locator("tr.flow-row.focused", { hasText: "/act-1" }).waitFor();
    await page.keyboard.press("Escape");
    await page.locator("tr.flow-row.focused").waitFor({ state: "detached" });
});

test("Replay sends the request to the upstream again", async () => {
    await focus("/replay-1");
    await page.locator(".flow-menu button", { hasText: "Replay" }).click();
    await waitFor(() => upstream.requests.filter((q) => q.target === "/replay-1").length === 2, "the replayed request at the upstream");
});

test("D duplicates and d deletes", async () => {
    await focus("/dup-1");
    await page.keyboard.press("D");
    await waitFor(async () => (await row("/dup-1").count()) === 2, "two /dup-1 rows");
    assert.equal((await serverFlows()).filter((f) => f.request.path === "/dup-1").length, 2);
    await focus("/del-1");
    await page.keyboard.press("d");
    await row("/del-1").waitFor({ state: "detached" });
    assert.equal((await serverFlows()).filter((f) => f.request.path === "/del-1").length, 0);
});

test("Mark marks the flow", async () => {
    await focus("/mark-1");
    await page.locator(".flow-menu button", { hasText: /^Mark$/ }).click();
    await row("/mark-1").locator(".marker").waitFor();
    const f = (await serverFlows()).find((x) => x.request.path === "/mark-1");
    assert.ok(f.marked, JSON.stringify(f.marked));
});

test("Export as cURL shows the command", async () => {
    await focus("/export-1");
    await page.locator(".export-toggle").click();
    await page.locator(".dropdown-item[data-format=curl]").click();
    const text = await page.locator(".modal-text").inputValue();
    assert.match(text, /^curl /);
    assert.ok(text.includes(upstream.url("/export-1")), text);
    await page.keyboard.press("Escape");
    await page.locator(".modal").waitFor({ state: "detached" });
});

test("an option toggle changes the server's option", async () => {
    await page.keyboard.press("Escape");
    await page.locator(".main-tabs [data-tab=options]").click();
    const box = page.locator(".options-menu label", { hasText: "Strip cache headers" }).locator("input");
    assert.equal(await box.isChecked(), false);
    await box.click();
    await waitFor(async () => (await serverOptions()).anticache.value === true, "anticache true on the server");
    await page.locator(".options-table tr[data-option=anticache].changed").waitFor();
    await box.click();
    await waitFor(async () => (await serverOptions()).anticache.value === false, "anticache false again");
});

test("the event log shows the server's events and the command bar runs a command", async () => {
    await page.locator(".options-menu label", { hasText: "Display Event Log" }).locator("input").check();
    await page.locator(".eventlog .event", { hasText: "Web server listening" }).waitFor();
    await page.locator(".options-menu label", { hasText: "Display Command Bar" }).locator("input").check();
    const input = page.locator(".command-input");
    await input.fill("view.order.options");
    await input.press("Enter");
    await page.locator(".commandbar-output pre", { hasText: "time" }).waitFor();
    await input.fill("no.such.command");
    await input.press("Enter");
    await page.locator(".commandbar-output pre.error-text").waitFor();
    assert.deepEqual(browser.errors, []);
});

test("Resume All (A) releases every intercepted flow", async () => {
    await page.keyboard.press("Escape");
    await page.locator(".main-tabs [data-tab=flowlist]").click();
    const box = page.locator(".filter-intercept input");
    await box.fill("~q & ~u /all-");
    await box.press("Enter");
    await page.locator(".footer .intercept-filter").waitFor();
    const pending = ["/all-1", "/all-2"].map((p) => curl(mitmc.proxyPort, upstream.url(p)));
    await page.locator("tr.flow-row.intercepted", { hasText: "/all-1" }).waitFor();
    await page.locator("tr.flow-row.intercepted", { hasText: "/all-2" }).waitFor();
    assert.equal(upstream.requests.filter((q) => q.target.startsWith("/all-")).length, 0);
    await box.blur(); // keys go to the page, not the filter box
    await page.keyboard.press("A");
    for (const p of pending) assert.equal((await p).code, 0);
    assert.equal(upstream.requests.filter((q) => q.target.startsWith("/all-")).length, 2);
    await box.fill("");
    await box.press("Enter");
    await page.locator(".footer .intercept-filter").waitFor({ state: "detached" });
});

test("Save, Clear All and Open round-trip the flows through a flow file", async () => {
    await page.keyboard.press("Escape");
    const before = (await serverFlows()).map((f) => f.request.path).sort();
    assert.ok(before.length > 5);
    await page.locator(".file-menu .menu-toggle").click();
    const [download] = await Promise.all([page.waitForEvent("download"), page.locator(".file-menu a", { hasText: /^Save$/ }).click()]);
    const file = await download.path();
    page.once("dialog", (d) => d.accept());
    await page.locator(".file-menu .menu-toggle").click();
    await page.locator(".file-menu a", { hasText: "Clear All" }).click();
    await page.locator(".footer .flow-count", { hasText: /^0 of 0 flows/ }).waitFor();
    assert.equal((await serverFlows()).length, 0);
    await page.locator(".file-menu .menu-toggle").click();
    await page.locator(".file-menu input[type=file]").setInputFiles(file);
    await page.locator(".footer .flow-count", { hasText: new RegExp(`^${before.length} of ${before.length} flows`) }).waitFor();
    assert.deepEqual((await serverFlows()).map((f) => f.request.path).sort(), before);
    assert.deepEqual(browser.errors, []);
});

test("a response edited before resume reaches the client", async () => {
    await page.keyboard.press("Escape");
    await page.locator(".main-tabs [data-tab=flowlist]").click();
    const box = page.locator(".filter-intercept input");
    await box.fill("~s & ~u /resp-1");
    await box.press("Enter");
    await page.locator(".footer .intercept-filter").waitFor();
    const pending = curl(mitmc.proxyPort, upstream.url("/resp-1"), ["-i"]);
    await page.locator("tr.flow-row.intercepted", { hasText: "/resp-1" }).click();
    const view = page.locator(".flow-view");
    await view.locator("[data-tab=response]").click();
    await view.locator(".edit-button").click();
    await view.locator("input.edit-code").fill("201");
    await view.locator("input.edit-reason").fill("Created Here");
    await view.locator("textarea.edit-body").fill("edited body\n");
    await view.locator(".save-edit").click();
    await view.locator(".first-line", { hasText: "201" }).waitFor();
    await page.locator(".flow-menu .resume").click();
    const r = await pending;
    assert.equal(r.code, 0, r.stderr);
    const [head, body] = r.stdout.split("\r\n\r\n");
    assert.match(head, /^HTTP\/1\.1 201 Created Here\r\n/);
    assert.match(head, /\r\nContent-Length: 12(\r\n|$)/i);
    assert.equal(body, "edited body\n");
    await page.keyboard.press("Escape");
    await page.locator(".main-tabs [data-tab=flowlist]").click();
    await box.fill("");
    await box.press("Enter");
    await page.locator(".footer .intercept-filter").waitFor({ state: "detached" });
});

test("a comment is saved on the server", async () => {
    await focus("/act-1");
    await page.locator(".flow-view [data-tab=comment]").click();
    await page.locator(".comment-input").fill("looked at this");
    await page.locator(".comment button", { hasText: "Save comment" }).click();
    await waitFor(async () => (await serverFlows()).find((f) => f.request.path === "/act-1").comment === "looked at this", "the comment on the server");
});
