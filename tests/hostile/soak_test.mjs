// A soak: dbserve-query's load mode against the emulator with 5 s tokens while faults are
// injected every few seconds through its admin API, once per transport:
//   node soak_test.mjs TOOL EMULATOR WORK_DIR TRANSPORTS [SECONDS]
// SECONDS per transport defaults to DBSERVE_SOAK_SECONDS, else 25. Checks, per transport:
// no hang (the tool ends), no duplicate POST (every invocation the emulator saw is one
// query's, or the retry after a 401), failures only of the injected kinds and no more than
// the faults could cause, token requests within a range the lifecycle allows, and the
// tool's RSS and open descriptors flat from warm-up to the end.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import readline from 'node:readline';

const [tool, emulatorBinary, work, transportList, secondsArg] = process.argv.slice(2);
if (!tool || !emulatorBinary || !work) {
    console.error('usage: node soak_test.mjs TOOL EMULATOR WORK_DIR [curl,beast] [SECONDS]');
    process.exit(2);
}
const transports = (transportList || 'curl').split(',').filter(Boolean);
const seconds = Number(secondsArg || process.env.DBSERVE_SOAK_SECONDS || 25);
const TOKEN_LIFETIME = 5;
const CONCURRENCY = 4;
const FAULT_EVERY_MS = 3000;
const WARM_UP_MS = Math.min(5000, seconds * 1000 / 4);
// Only a hang reaches this: the run itself ends at --duration.
const HANG_BOUND_MS = (seconds + 30) * 1000;

fs.rmSync(work, { recursive: true, force: true });
fs.mkdirSync(work, { recursive: true });

// The faults, in turn. Drops on the data plane are the outcome-unknown cases (each may
// fail its query, never repeat it); the token endpoint is slowed and refused now and then.
const FAULTS = [
    { route: 'invocations', kind: 'drop_after' },
    { route: 'token', status: 503 },
    { route: 'invocations', kind: 'drop_before' },
    { route: 'token', kind: 'delay', delay_ms: 1500 },
];
// Failures these can cause, as load mode names them.
const INJECTED_KINDS = [/^connection\b/, /outcome.unknown/, /^unavailable \(HTTP 503\)$/];
// Of these, the kinds whose query had sent its POST.
const SENT_KINDS = [/^connection\b/, /outcome.unknown/];

// ---- the emulator ------------------------------------------------------------------------

function startEmulator() {
    const child = spawn(emulatorBinary, ['--token-lifetime', String(TOKEN_LIFETIME), '--exit-on-stdin-eof',
        '--max-lifetime', String(transports.length * (seconds + 60) + 60), '--threads', '2'],
        { stdio: ['pipe', 'pipe', 'inherit'] });
    return new Promise((resolve, reject) => {
        const lines = readline.createInterface({ input: child.stdout });
        const timer = setTimeout(() => reject(new Error('the emulator printed no JSON line in 30 s')), 30_000);
        lines.once('line', (line) => {
            clearTimeout(timer);
            try {
                resolve({ child, info: JSON.parse(line) });
            } catch {
                reject(new Error(`the emulator's first line is not JSON: ${line.slice(0, 200)}`));
            }
        });
        child.once('exit', (code) => reject(new Error(`the emulator exited (${code})`)));
    });
}

function admin(info, method, route, body) {
    const url = new URL(info.admin_url + route);
    return new Promise((resolve, reject) => {
        const request = https.request(url, {
            method, ca: fs.readFileSync(info.ca_file), timeout: 10_000,
            headers: body ? { 'Content-Type': 'application/json' } : {},
        }, (response) => {
            const chunks = [];
            response.on('data', (c) => chunks.push(c));
            // An admin call the emulator refused, or counters that are not JSON, would
            // otherwise pass for a fault added or for zero counts.
            response.on('end', () => {
                const text = Buffer.concat(chunks).toString();
                if (response.statusCode < 200 || response.statusCode > 299) {
                    reject(new Error(`admin ${method} ${route}: HTTP ${response.statusCode}: ${text.slice(0, 200)}`));
                    return;
                }
                try { resolve(text ? JSON.parse(text) : null); } catch {
                    reject(new Error(`admin ${method} ${route}: not JSON: ${text.slice(0, 200)}`));
                }
            });
            response.on('error', reject);
        });
        request.on('timeout', () => request.destroy(new Error(`admin ${route}: timed out`)));
        request.on('error', reject);
        if (body) request.write(JSON.stringify(body));
        request.end();
    });
}

// ---- the tool's footprint ------------------------------------------------------------------

function sample(pid) {
    try {
        const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
        const rss = Number((status.match(/^VmRSS:\s+(\d+) kB/m) || [])[1]);
        const fds = fs.readdirSync(`/proc/${pid}/fd`).length;
        return Number.isFinite(rss) ? { rssKb: rss, fds } : null;
    } catch {
        return null;  // the process has ended
    }
}

// ---- one transport -----------------------------------------------------------------------

async function soak(info, transport) {
    await admin(info, 'POST', '/reset');
    const sum = info.endpoints['sum-model'];
    const env = { ...process.env, HOME: work };
    for (const k of Object.keys(env)) if (/^(DATABRICKS_|SSL_CERT_|CURL_CA_BUNDLE|HTTPS?_PROXY)/i.test(k)) delete env[k];
    env.DATABRICKS_HOST = info.workspace_url;
    env.DATABRICKS_CLIENT_ID = info.service_principal.client_id;
    env.DATABRICKS_CLIENT_SECRET = info.service_principal.client_secret;
    const args = ['--url', sum.url, '--cacert', info.ca_file, '--transport', transport,
        '--data', '{"dataframe_split":{"columns":["a","b"],"data":[[1,2],[3,4]]}}',
        '--duration', String(seconds), '--concurrency', String(CONCURRENCY), '--summary', 'json'];
    for (const r of info.curl_resolve) args.push('--resolve', r);

    const child = spawn(tool, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    const out = [];
    const err = [];
    child.stdout.on('data', (d) => out.push(d));
    child.stderr.on('data', (d) => err.push(d));
    let hung = false;
    const killer = setTimeout(() => { hung = true; child.kill('SIGKILL'); }, HANG_BOUND_MS);
    const ended = new Promise((resolve) => child.on('close', (code, signal) => resolve({ code, signal })));

    let faultsAdded = 0;
    const injector = setInterval(() => {
        const fault = FAULTS[faultsAdded % FAULTS.length];
        faultsAdded += 1;
        admin(info, 'POST', '/faults', fault).catch((e) => console.error(`soak: adding a fault failed: ${e.message}`));
    }, FAULT_EVERY_MS);
    let warm = null;
    let last = null;
    let peak = null;
    const started = Date.now();
    const sampler = setInterval(() => {
        const s = sample(child.pid);
        if (!s) return;
        // The last sample taken a second or more before --duration ends: the footprint at
        // full load, before the workers wind down.
        if (Date.now() - started > (seconds - 1) * 1000) return;
        if (!warm && Date.now() - started >= WARM_UP_MS) warm = s;
        if (warm) {
            last = s;
            peak = peak ? { rssKb: Math.max(peak.rssKb, s.rssKb), fds: Math.max(peak.fds, s.fds) } : { ...s };
        }
    }, 250);

    const { code, signal } = await ended;
    clearTimeout(killer);
    clearInterval(injector);
    clearInterval(sampler);
    await admin(info, 'DELETE', '/faults');
    const counters = await admin(info, 'GET', '/counters');
    const stdout = Buffer.concat(out).toString();
    const stderr = Buffer.concat(err).toString();
    fs.writeFileSync(path.join(work, `${transport}.out`), stdout);
    fs.writeFileSync(path.join(work, `${transport}.err`), stderr);
    fs.writeFileSync(path.join(work, `${transport}.counters.json`), JSON.stringify(counters, null, 2));

    const problems = [];
    const fail = (t) => problems.push(t);
    let summary = null;
    try { summary = JSON.parse(stdout); } catch { /* checked below */ }
    if (hung) fail(`still running ${HANG_BOUND_MS / 1000} s after the start of a ${seconds} s run: killed (a hang)`);
    else if (signal) fail(`killed by ${signal}`);
    else if (![0, 4, 5].includes(code)) fail(`exit ${code}, expected 0, or 4/5 for an injected failure`);
    if (!summary) {
        fail(`no JSON summary on stdout: ${stdout.slice(0, 200)}`);
        return { transport, problems };
    }

    // Every invocation POST the emulator saw belongs to one query, or is the retry after a
    // 401 answer; a query that failed before its POST (the token request refused) sent none.
    const posts = counters.invocations_total || 0;
    const answered401 = (counters.invocations || {})['401'] || 0;
    let failuresBeforePost = 0;
    let injectedFailures = 0;
    for (const [kind, n] of Object.entries(summary.failures_by_kind)) {
        if (!INJECTED_KINDS.some((re) => re.test(kind))) fail(`${n} failures of a kind not injected: ${kind}`);
        if (!SENT_KINDS.some((re) => re.test(kind))) failuresBeforePost += n;
        injectedFailures += n;
    }
    const expectedPosts = summary.queries - failuresBeforePost + answered401;
    const duplicates = posts - expectedPosts;
    if (duplicates > 0) fail(`${duplicates} duplicate POSTs: ${posts} invocations for ${summary.queries} queries ` +
                             `(${failuresBeforePost} failed before sending, ${answered401} answered 401)`);
    if (duplicates < 0) fail(`${-duplicates} queries unaccounted for: ${posts} invocations for ${summary.queries} queries`);
    const fired = counters.faults_fired || 0;
    if (injectedFailures > fired * CONCURRENCY)
        fail(`${injectedFailures} failures from ${fired} faults (at most ${CONCURRENCY} per fault)`);
    if (answered401 > 3) fail(`${answered401} invocations answered 401: tokens used past their expiry`);

    // Data-plane tokens last 5 s and are renewed from TTL/2 before expiry: about one per
    // 2.5 s. The range allows for far fewer (never fewer than one per lifetime) and for more
    // (refused and retried requests, a refresh per fault).
    const tokenRequests = (counters.token_requests || {}).total || 0;
    const low = Math.max(1, Math.floor(seconds / TOKEN_LIFETIME) - 1);
    const high = 2 * Math.ceil(seconds / (TOKEN_LIFETIME / 2)) + faultsAdded + 4;
    if (tokenRequests < low || tokenRequests > high)
        fail(`${tokenRequests} token requests in ${seconds} s with ${TOKEN_LIFETIME} s tokens: expected ${low} to ${high}`);

    // Flat after warm-up: the end within a generous bound of the post-warm-up value.
    if (!warm || !last) {
        fail('no footprint sample after warm-up');
    } else {
        const rssBound = warm.rssKb + Math.max(8 * 1024, warm.rssKb / 4);
        if (last.rssKb > rssBound) fail(`RSS grew from ${warm.rssKb} kB to ${last.rssKb} kB (bound ${Math.round(rssBound)} kB)`);
        if (last.fds > warm.fds + 8) fail(`open descriptors grew from ${warm.fds} to ${last.fds}`);
    }
    const figures = {
        transport, seconds, exit: code, queries: summary.queries, successes: summary.successes,
        failures_by_kind: summary.failures_by_kind, faults_added: faultsAdded, faults_fired: fired,
        invocation_posts: posts, duplicates, answered_401: answered401,
        token_requests: { emulator: tokenRequests, tool: summary.token_requests, range: [low, high] },
        rss_kb: warm && last ? { warm: warm.rssKb, end: last.rssKb, peak: peak.rssKb } : null,
        fds: warm && last ? { warm: warm.fds, end: last.fds, peak: peak.fds } : null,
    };
    return { transport, problems, figures };
}

const { child, info } = await startEmulator();
let failed = 0;
try {
    for (const transport of transports) {
        const r = await soak(info, transport);
        console.log(`${r.problems.length ? 'FAIL' : 'ok  '}  soak [${transport}] ${JSON.stringify(r.figures || {})}`);
        for (const p of r.problems) console.log(`      - ${p}`);
        if (r.problems.length) failed += 1;
    }
} finally {
    child.stdin.end();
    child.kill('SIGTERM');
}
console.log(`soak: ${transports.length - failed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
