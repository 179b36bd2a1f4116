// Screenshots of the main screens into docs/web/*.png, from the real `mitmc web` with a few
// flows made through it: `node tests/browser/screenshots.mjs` (MITMC_BIN as the tests).
import fs from "node:fs";
import path from "node:path";
import { startMitmc, startUpstream, startBrowser, curl, ROOT } from "./harness.mjs";

const OUT = path.join(ROOT, "docs/web");
fs.mkdirSync(OUT, { recursive: true });

const upstream = await startUpstream();
const mitmc = await startMitmc();
let light, dark, narrow;
try {
    const paths = ["/", "/index.html", "/static/site.css", "/api/v1/users?page=2", "/api/v1/users/42", "/status/404",
        "/api/v1/orders", "/status/500", "/static/app.css", "/docs/intro.html", "/api/v1/health", "/status/301"];
    for (const p of paths) {
        const r = await curl(mitmc.proxyPort, upstream.url(p), ["-H", "User-Agent: curl/7.88.1", "-H", "Accept: application/json"]);
        if (r.code !== 0) throw new Error(`curl ${p}: ${r.stderr}`);
    }
    const post = await curl(mitmc.proxyPort, upstream.url("/api/v1/orders"), ["-H", "Content-Type: application/json", "--data", '{"item":"book","qty":2}']);
    if (post.code !== 0) throw new Error(post.stderr);

    light = await startBrowser({ viewport: { width: 1280, height: 720 }, colorScheme: "light" });
    const page = light.page;
    await page.goto(mitmc.url);
    await page.locator(".connection-indicator.conn-established").waitFor();
    await page.locator("tr.flow-row", { hasText: "/api/v1/health" }).waitFor();
    await page.locator(".filter-highlight input").fill("~c 404");
    await page.locator(".filter-highlight input").press("Enter");
    await page.locator("tr.flow-row.highlighted").first().waitFor();
    await page.screenshot({ path: path.join(OUT, "flow-list.png") });

    await page.locator("tr.flow-row", { hasText: "/api/v1/users/42" }).click();
    await page.locator(".flow-view [data-tab=response]").click();
    await page.locator(".flow-view .cv-text").waitFor();
    await page.screenshot({ path: path.join(OUT, "flow-details.png") });

    await page.keyboard.press("Escape");
    await page.locator(".main-tabs [data-tab=options]").click();
    await page.locator(".options-table tr").first().waitFor();
    await page.screenshot({ path: path.join(OUT, "options.png") });

    dark = await startBrowser({ viewport: { width: 1280, height: 720 }, colorScheme: "dark" });
    await dark.page.goto(mitmc.url);
    await dark.page.locator("tr.flow-row", { hasText: "/api/v1/orders" }).last().click();
    await dark.page.locator(".flow-view .cv-text").waitFor();
    await dark.page.screenshot({ path: path.join(OUT, "dark.png") });

    narrow = await startBrowser({ viewport: { width: 420, height: 800 }, colorScheme: "light" });
    await narrow.page.goto(mitmc.url);
    await narrow.page.locator("tr.flow-row", { hasText: "/api/v1/users/42" }).click();
    await narrow.page.locator(".flow-view .first-line").waitFor();
    await narrow.page.screenshot({ path: path.join(OUT, "narrow.png") });
    for (const b of [light, dark, narrow]) if (b.errors.length) throw new Error("page errors: " + b.errors.join("\n"));
    console.log(`screenshots written to ${OUT}`);
} finally {
    for (const b of [light, dark, narrow]) if (b) await b.close();
    await mitmc.stop();
    await upstream.close();
}
