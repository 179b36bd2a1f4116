// The browser tests' fixtures: the real `mitmc web` binary on ephemeral ports, a raw upstream
// that records the exact bytes it receives, curl through the proxy, and Debian's chromium
// driven by playwright-core. Every process is started here, tracked by PID and stopped by PID;
// every wait is bounded in time.
import { spawn } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
export const CHROMIUM = process.env.MITMC_CHROMIUM || "/usr/bin/chromium";
export const BIN = path.resolve(ROOT, process.env.MITMC_BIN || "build/mitmc");
export const WAIT_MS = 15000; // the bound of every wait

export const CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
];

export function sleep(ms) {
    return new Promise((r) => setTimeout(r, ms));
}

// Poll fn until it returns a truthy value; fail with what after ms.
export async function waitFor(fn, what, ms = WAIT_MS) {
    const end = Date.now() + ms;
    let last;
    while (Date.now() < end) {
        try {
            last = await fn();
            if (last) return last;
        } catch (e) {
            last = e;
        }
        await sleep(50);
    }
    throw new Error(`timed out after ${ms} ms waiting for ${what} (last: ${last})`);
}

// A child process whose output is kept, stopped by PID: SIGTERM, then SIGKILL.
class Child {
    constructor(argv, opts = {}) {
        this.argv = argv;
        this.out = "";
        this.err = "";
        this.exit = null;
        this.proc = spawn(argv[0], argv.slice(1), { stdio: ["ignore", "pipe", "pipe"], ...opts });
        this.pid = this.proc.pid;
        this.proc.stdout.on("data", (d) => (this.out += d));
        this.proc.stderr.on("data", (d) => (this.err += d));
        this.done = new Promise((r) =>
            this.proc.on("exit", (code, sig) => {
                this.exit = { code, sig };
                r(this.exit);
            }),
        );
        this.proc.on("error", (e) => {
            this.err += String(e);
            this.exit = this.exit || { code: -1, sig: null };
        });
    }

    async stop(ms = 10000) {
        if (this.exit) return this.exit;
        try {
            process.kill(this.pid, "SIGTERM");
        } catch {
            return this.exit;
        }
        const r = await Promise.race([this.done, sleep(ms).then(() => null)]);
        if (r) return r;
        try {
            process.kill(this.pid, "SIGKILL");
        } catch {
            /* already gone */
        }
        await Promise.race([this.done, sleep(ms)]);
        return { code: null, sig: "SIGKILL", forced: true };
    }
}

// ---- the upstream: raw TCP, so the test sees exactly what the proxy sent
export async function startUpstream() {
    const requests = [];
    const server = net.createServer((sock) => {
        let buf = Buffer.alloc(0);
        sock.on("data", (d) => {
            buf = Buffer.concat([buf, d]);
            for (;;) {
                const end = buf.indexOf("\r\n\r\n");
                if (end < 0) return;
                const head = buf.subarray(0, end + 4).toString("latin1");
                const m = /\r\ncontent-length:\s*(\d+)/i.exec(head);
                const len = m ? Number(m[1]) : 0;
                if (buf.length < end + 4 + len) return;
                const raw = buf.subarray(0, end + 4 + len);
                buf = buf.subarray(end + 4 + len);
                const [line] = head.split("\r\n");
                const [method, target] = line.split(" ");
                const req = { raw, head, body: raw.subarray(end + 4), method, target };
                requests.push(req);
                // /status/<code> answers with that status, *.html and *.css with their types
                // (for the screenshots); everything else 200 with a JSON body naming the request
                const sm = /^\/status\/(\d{3})/.exec(target || "");
                const status = sm ? Number(sm[1]) : 200;
                const type = /\.html$/.test(target) ? "text/html" : /\.css$/.test(target) ? "text/css" : "application/json";
                const body = Buffer.from(
                    type === "application/json"
                        ? JSON.stringify({ upstream: "mitmc-browser-test", method, target }) + "\n"
                        : type === "text/html"
                          ? "<!doctype html><title>test</title><h1>mitmc</h1>\n"
                          : "body { color: #333; }\n",
                );
                sock.write(
                    `HTTP/1.1 ${status} ${status === 200 ? "OK" : "Status"}\r\nContent-Type: ${type}\r\nX-Upstream: raw\r\n` +
                        `Content-Length: ${body.length}\r\n\r\n`,
                );
                sock.write(body);
            }
        });
        sock.on("error", () => {});
    });
    await new Promise((res, rej) => {
        server.once("error", rej);
        server.listen(0, "127.0.0.1", res);
    });
    const port = server.address().port;
    return {
        port,
        requests,
        url: (p) => `http://127.0.0.1:${port}${p}`,
        close: () => new Promise((r) => server.close(() => r())),
    };
}

// ---- mitmc web
export async function startMitmc(extra = []) {
    if (!fs.existsSync(BIN)) throw new Error(`no mitmc binary at ${BIN} (build it, or set MITMC_BIN)`);
    const confdir = fs.mkdtempSync(path.join(os.tmpdir(), "mitmc-browser-conf-"));
    const argv = [
        BIN, "web",
        "--listen-host", "127.0.0.1", "-p", "0",
        "--set", `confdir=${confdir}`,
        "--set", "web_host=127.0.0.1",
        "--set", "web_port=0",
        "--set", "web_open_browser=false",
        ...extra,
    ];
    const c = new Child(argv);
    const all = () => c.out + "\n" + c.err;
    let proxyPort;
    let web;
    try {
        proxyPort = await waitFor(() => {
            if (c.exit) throw new Error(`mitmc exited ${JSON.stringify(c.exit)}: ${all()}`);
            const m = /listening at \S+:(\d+)/.exec(all());
            return m && Number(m[1]);
        }, "the proxy's 'listening at' line");
        web = await waitFor(() => {
            if (c.exit) throw new Error(`mitmc exited ${JSON.stringify(c.exit)}: ${all()}`);
            const m = /(http:\/\/127\.0\.0\.1:(\d+)\/)\?token=([0-9A-Za-z_-]+)/.exec(all());
            return m && { base: m[1], port: Number(m[2]), token: m[3] };
        }, "the web UI's URL with its token");
    } catch (e) {
        await c.stop();
        fs.rmSync(confdir, { recursive: true, force: true });
        throw e;
    }
    return {
        proc: c,
        pid: c.pid,
        proxyPort,
        ...web,
        url: `${web.base}?token=${web.token}`,
        output: all,
        async stop() {
            const r = await c.stop();
            fs.rmSync(confdir, { recursive: true, force: true });
            return r;
        },
    };
}

// ---- curl through the proxy; resolves with {code, stdout, stderr}
export function curl(proxyPort, url, args = [], ms = WAIT_MS) {
    const c = new Child(["curl", "-sS", "--max-time", String(ms / 1000), "-x", `http://127.0.0.1:${proxyPort}`, ...args, url]);
    const p = c.done.then((exit) => ({ code: exit.code, stdout: c.out, stderr: c.err }));
    p.child = c;
    return p;
}

// ---- chromium
export async function startBrowser(opts = {}) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "mitmc-browser-profile-"));
    // launchPersistentContext passes the fresh profile as --user-data-dir
    const ctx = await chromium.launchPersistentContext(dir, {
        executablePath: CHROMIUM,
        headless: true,
        args: CHROMIUM_ARGS,
        viewport: opts.viewport || { width: 1280, height: 800 },
        colorScheme: opts.colorScheme || "light",
        timeout: WAIT_MS,
    });
    ctx.setDefaultTimeout(WAIT_MS);
    const page = ctx.pages()[0] || (await ctx.newPage());
    const errors = [];
    page.on("pageerror", (e) => errors.push(String(e)));
    page.on("console", (m) => m.type() === "error" && errors.push(m.text()));
    return {
        ctx,
        page,
        errors,
        async close() {
            await ctx.close().catch(() => {});
            fs.rmSync(dir, { recursive: true, force: true });
        },
    };
}

export function haveChromium() {
    return fs.existsSync(CHROMIUM);
}
