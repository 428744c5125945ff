// dbserve-query against servers that misbehave on purpose, with both transports:
//   node hostile_test.mjs GROUP TOOL WORK_DIR TRANSPORTS
// GROUP is one of the case groups below (or "all"), TRANSPORTS a comma-separated list
// (curl, beast). Each case starts its own listeners (hostile_server.mjs), runs the real
// tool, and checks the exit code it states and what must never happen. Every run of every
// case is also checked for: death by a signal, a hang (the process is killed after a bound
// far above any timeout it was given), and any credential in its output (the client
// secret, its form-encoded form, the Basic value, every token the server issued).
import crypto from 'node:crypto';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { HostileListener, makeCertificates, writeResponse } from './hostile_server.mjs';

const [group, tool, work, transportList] = process.argv.slice(2);
if (!group || !tool || !work) {
    console.error('usage: node hostile_test.mjs GROUP TOOL WORK_DIR [curl,beast]');
    process.exit(2);
}
const transports = (transportList || 'curl').split(',').filter(Boolean);

const WORKSPACE_ID = '1234567890123456';
const WORKSPACE_HOST = `adb-${WORKSPACE_ID}.7.azuredatabricks.net`;
const ENDPOINT_ID = 'a1b2c3d4e5f60718293a4b5c6d7e8f90';
const DATA_HOST = `${ENDPOINT_ID}.eastus2.serving.azuredatabricks.net`;
const CLIENT_ID = 'hostile-client';
// Needs form encoding (RFC 6749 §2.3.1), so its raw and encoded forms differ.
const CLIENT_SECRET = 'hs+cr/t%41 y:z=Q7kW9x';
const BODY = '{"inputs":[[1,2]]}';
const PREDICTIONS = '{"predictions":[3]}';
// Well above the time a process needs to start and stop here, and below the 10 s connect
// and 60 s token-request timeouts a deadline must override: only a process that does not
// honour its deadline reaches it.
const HANG_SLACK_MS = 6_000;

fs.rmSync(work, { recursive: true, force: true });
fs.mkdirSync(path.join(work, 'out'), { recursive: true });
fs.mkdirSync(path.join(work, 'home'), { recursive: true });
const certificates = makeCertificates(path.join(work, 'certs'), [WORKSPACE_HOST, DATA_HOST]);

// ---- the well-behaved parts a case does not replace -------------------------------------

function jwtShaped() {
    const part = (n) => crypto.randomBytes(n).toString('base64url');
    return `eyJhbGciOiJSUzI1NiJ9.${part(48)}.${part(32)}`;
}

// Per case: what the client sent (for the leak check) and what the server gave out.
class Secrets {
    constructor() {
        this.values = new Set([CLIENT_SECRET, formEncode(CLIENT_SECRET),
            Buffer.from(`${CLIENT_ID}:${CLIENT_SECRET}`).toString('base64'),
            Buffer.from(`${formEncode(CLIENT_ID)}:${formEncode(CLIENT_SECRET)}`).toString('base64')]);
    }
    sawRequest(request) {
        const auth = request.headers.authorization || '';
        const space = auth.indexOf(' ');
        if (space > 0 && auth.length > space + 8) this.values.add(auth.slice(space + 1));
        if (auth.startsWith('Basic ')) {
            const decoded = Buffer.from(auth.slice(6), 'base64').toString('latin1');
            const colon = decoded.indexOf(':');
            if (colon > 0) this.values.add(decoded.slice(colon + 1));
        }
    }
    issue() {
        const token = jwtShaped();
        this.values.add(token);
        return token;
    }
}

function formEncode(text) {
    return encodeURIComponent(text).replace(/%20/g, '+').replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

// A handler factory (see runCase) answering every request with one response and keeping
// the connection for the next one. body: text, bytes, or (request, secrets) => either.
function answer(status, body, { type = 'application/json', headers = {}, reason = 'OK' } = {}) {
    return (secrets) => (request, ctx) => {
        const bytes = typeof body === 'function' ? body(request, secrets) : body;
        writeResponse(ctx.socket, status, { 'Content-Type': type, ...headers }, bytes, reason);
        ctx.done();
    };
}

const issueToken = answer(200, (request, secrets) =>
    JSON.stringify({ access_token: secrets.issue(), token_type: 'Bearer', expires_in: 3600 }));
const predict = answer(200, PREDICTIONS);

// ---- running the tool -------------------------------------------------------------------

const baseEnv = {};
for (const [k, v] of Object.entries(process.env)) {
    if (/^(DATABRICKS_|SSL_CERT_|CURL_CA_BUNDLE|REQUESTS_CA_BUNDLE|HTTPS?_PROXY|ALL_PROXY)/i.test(k)) continue;
    baseEnv[k] = v;
}
baseEnv.HOME = path.join(work, 'home');
baseEnv.DATABRICKS_CLIENT_ID = CLIENT_ID;
baseEnv.DATABRICKS_CLIENT_SECRET = CLIENT_SECRET;

function runTool(args, limitMs) {
    return new Promise((resolve) => {
        const started = Date.now();
        const child = spawn(tool, args, { env: baseEnv, stdio: ['ignore', 'pipe', 'pipe'] });
        const out = [];
        const err = [];
        child.stdout.on('data', (d) => out.push(d));
        child.stderr.on('data', (d) => err.push(d));
        let hung = false;
        const killer = setTimeout(() => { hung = true; child.kill('SIGKILL'); }, limitMs);
        child.on('close', (code, signal) => {
            clearTimeout(killer);
            resolve({
                code, signal: hung ? null : signal, hung, seconds: (Date.now() - started) / 1000,
                stdout: Buffer.concat(out), stderr: Buffer.concat(err),
            });
        });
    });
}

function toolArgs(transport, token, data, extra) {
    // A case that gives --endpoint discovers the URL through the workspace listener.
    const where = extra.includes('--endpoint') ? []
        : ['--url', `https://${DATA_HOST}:${data.port}/${WORKSPACE_ID}/serving-endpoints/hostile-model/invocations`];
    return [
        ...where,
        '--host', `https://${WORKSPACE_HOST}:${token.port}`,
        '--cacert', certificates.caFile,
        '--resolve', `${WORKSPACE_HOST}:${token.port}:127.0.0.1`,
        '--resolve', `${DATA_HOST}:${data.port}:127.0.0.1`,
        '--transport', transport,
        ...(extra.includes('--data') ? [] : ['--data', BODY]),
        ...extra,
    ];
}

// Raw C0 controls other than tab and line feed, DEL, and C1 controls in UTF-8: what a
// terminal would act on.
function rawControlAt(buffer) {
    for (let i = 0; i < buffer.length; ++i) {
        const b = buffer[i];
        if ((b < 0x20 && b !== 0x0a && b !== 0x09) || b === 0x7f) return i;
        if (b === 0xc2 && i + 1 < buffer.length && buffer[i + 1] >= 0x80 && buffer[i + 1] <= 0x9f) return i;
        // A lone 8-bit C1 byte (CSI is 0x9b) after ASCII: what an 8-bit terminal acts on.
        if (b >= 0x80 && b <= 0x9f && (i === 0 || buffer[i - 1] < 0x80)) return i;
    }
    return -1;
}

function summaryOf(result) {
    try { return JSON.parse(result.stdout.toString('utf8')); } catch { return null; }
}

const OUTCOME_UNKNOWN = /outcome (is )?unknown|may have (reached|been processed)/i;

// ---- the cases ----------------------------------------------------------------------------
// Each: group, name, the promise (expected exit and what must never happen), listeners
// (token, data: a kind and a handler factory), the tool's extra flags per verbosity, the
// exit code, and checks(result, listeners, fail).

const deep = (n) => '['.repeat(n) + ']'.repeat(n);
const DEEP = deep(100_000);
const GZIPPED = zlib.gzipSync(Buffer.from('{"predictions":[424242]}'));
const REPEAT_2 = ['--repeat', '2', '--concurrency', '1', '--summary', 'json'];
const LOAD_3S = ['--duration', '3', '--concurrency', '4', '--summary', 'json'];

// Handler factories for what a well-behaved server would never do.
const closeAfterRequest = () => (request, ctx) => ctx.socket.destroy();
// Writes `text` and then nothing, ever.
const stallAfter = (text) => () => (request, ctx) => ctx.socket.write(text);
// Writes `head`, then `byte` every 100 ms for as long as the client stays.
const neverEnding = (head, byte) => () => (request, ctx) => {
    ctx.socket.write(head);
    ctx.listener.every(100, () => !ctx.socket.destroyed && (ctx.socket.write(byte), true));
};
const unauthenticated = answer(401, '{"error_code":"UNAUTHENTICATED","message":"Invalid access token."}',
    { reason: 'Unauthorized' });

// Checks shared by several cases.
function exactlyOnePost(r, l, fail) {
    if (l.data.posts() !== 1) fail(`${l.data.posts()} POSTs arrived, expected exactly 1`);
}
function saysOutcomeUnknown(r, l, fail) {
    if (!OUTCOME_UNKNOWN.test(r.stderr.toString())) fail('stderr does not say the outcome is unknown');
}
// --repeat 2 where the second query's connection is dropped: both POSTs on one connection.
function secondPostOnReusedConnection(r, l, fail) {
    const posts = l.data.requests.filter((q) => q.method === 'POST');
    if (posts.length !== 2) fail(`${posts.length} POSTs arrived for 2 queries, expected exactly 2`);
    if (posts.length >= 2 && posts[1].connection !== posts[0].connection)
        fail('the second POST came on a new connection: the case did not exercise reuse');
    const s = summaryOf(r);
    if (!s || s.queries !== 2 || s.successes !== 1) fail(`summary: ${r.stdout.toString().trim()}`);
}
function noRawControl(r, l, fail) {
    const at = rawControlAt(r.stderr);
    if (at >= 0) fail(`raw control byte 0x${r.stderr[at].toString(16)} at ${at} of stderr`);
}
const allOf = (...checks) => (...args) => checks.forEach((check) => check(...args));

const cases = [
    // -- drop after request -----------------------------------------------------------------
    {
        group: 'drop', name: 'fresh connection closed once the POST is read',
        promise: 'exit 5, outcome unknown; exactly one POST arrives (never re-sent)',
        data: ['tls', closeAfterRequest], exit: 5,
        check: allOf(exactlyOnePost, saysOutcomeUnknown),
    },
    {
        group: 'drop', name: 'reused keep-alive connection closed once the second POST is read',
        promise: '--repeat 2: exit 5, 1 success and 1 outcome-unknown failure; exactly two POSTs (never a third)',
        data: ['tls', (secrets) => {
            const first = predict(secrets);
            return (request, ctx) => (ctx.listener.posts() === 1 ? first(request, ctx) : ctx.socket.destroy());
        }],
        extra: REPEAT_2, exit: 5,
        check: allOf(secondPostOnReusedConnection, saysOutcomeUnknown),
    },
    {
        group: 'drop', name: 'idle keep-alive connection closed by the server before the next POST',
        // The server closes right after its answer, so the next query may be written before
        // the close arrives (a race no client can win, Go's included): then that POST went
        // out on a dead connection and its outcome is unknown. Never a third POST. The rule
        // itself is pinned without the race by the conformance case that waits for the close.
        promise: '--repeat 2: exit 0 with two POSTs (a fresh connection), or, when the close raced the next POST, exit 5 with outcome unknown and one POST; never a re-send',
        data: ['tls', () => (request, ctx) => {
            const head = { 'Content-Type': 'application/json', 'Connection': 'keep-alive' };
            writeResponse(ctx.socket, 200, head, PREDICTIONS);
            ctx.socket.end();
            ctx.socket.once('finish', () => ctx.socket.destroy());
        }],
        extra: REPEAT_2, exit: [0, 5],
        check: (r, l, fail) => {
            const expected = r.code === 0 ? 2 : 1;
            if (l.data.posts() !== expected)
                fail(`${l.data.posts()} POSTs arrived for 2 queries with exit ${r.code}, expected exactly ${expected}`);
            if (r.code === 5 && !/outcome is unknown|may have been processed/i.test(r.stderr.toString()))
                fail('exit 5 without saying the outcome is unknown');
        },
    },
    {
        group: 'drop', name: 'HTTP/2: session closed once the second POST stream is read', only: ['curl'],
        promise: '--repeat 2: exit 5, 1 success; exactly two POSTs (never a third)',
        data: ['h2', () => (request, ctx) => {
            if (ctx.listener.posts() === 1) {
                ctx.stream.respond({ ':status': 200, 'content-type': 'application/json' });
                ctx.stream.end(PREDICTIONS);
            } else {
                ctx.session.destroy();
            }
        }],
        extra: REPEAT_2, exit: 5,
        check: secondPostOnReusedConnection,
    },

    // -- deep JSON ----------------------------------------------------------------------------
    ...[false, true].flatMap((verbose) => [
        {
            group: 'deep_json', verbose, name: 'token response 200 nesting 100,000 levels',
            promise: 'exit 4 (a bad response), one error line; never a crash',
            token: ['tls', answer(200, (request, secrets) =>
                `{"access_token":"${secrets.issue()}","token_type":"Bearer","expires_in":3600,"detail":${DEEP}}`)],
            exit: 4,
        },
        {
            group: 'deep_json', verbose, name: 'token error 401 nesting 100,000 levels',
            promise: 'exit 3 (the token request refused); never a crash',
            token: ['tls', answer(401, `{"error":"invalid_client","error_description":"deep","detail":${DEEP}}`,
                { reason: 'Unauthorized' })],
            exit: 3,
        },
        {
            group: 'deep_json', verbose, name: 'data-plane error 500 nesting 100,000 levels',
            promise: 'exit 4; never a crash',
            data: ['tls', answer(500, `{"error_code":"INTERNAL_ERROR","message":"deep","detail":${DEEP}}`,
                { reason: 'Internal Server Error' })],
            exit: 4,
        },
        {
            group: 'deep_json', verbose, name: 'data-plane 401 whose body nests 100,000 levels',
            promise: 'exit 3; never a crash',
            data: ['tls', answer(401, DEEP, { reason: 'Unauthorized' })],
            exit: 3,
        },
    ]),

    // -- echoed credentials -------------------------------------------------------------------
    ...[false, true].flatMap((verbose) => [
        {
            group: 'credentials', verbose, name: 'token endpoint echoes the secret, its encoded form and the Basic value',
            promise: 'exit 3; none of them (nor the Authorization value) is printed',
            token: ['tls', () => (request, ctx) => {
                const auth = request.headers.authorization || '';
                const basic = auth.replace(/^Basic /, '');
                const sentSecret = Buffer.from(basic, 'base64').toString('latin1').split(':').slice(1).join(':');
                const text = `Client authentication failed for ${auth} (secret ${CLIENT_SECRET}, sent as ${sentSecret}, ` +
                             `basic ${basic})`;
                const body = JSON.stringify({ error: 'invalid_client', error_description: text,
                    detail: { seen: CLIENT_SECRET, basic, authorization: auth } });
                writeResponse(ctx.socket, 401, {
                    'Content-Type': 'application/json', 'WWW-Authenticate': `Basic realm="${basic}"`,
                    'X-Echo': `${CLIENT_SECRET} ${sentSecret}`,
                }, body, 'Unauthorized');
                ctx.done();
            }],
            exit: 3,
        },
        {
            group: 'credentials', verbose, name: 'data-plane 401 quotes the bearer token in its body and headers',
            promise: 'exit 3; no token the client held is printed',
            data: ['tls', () => (request, ctx) => {
                const auth = request.headers.authorization || '';
                const body = JSON.stringify({ error_code: 'UNAUTHENTICATED',
                    message: `Invalid access token: ${auth}`, token_seen: auth.replace(/^Bearer /, '') });
                writeResponse(ctx.socket, 401, {
                    'Content-Type': 'application/json',
                    'WWW-Authenticate': `Bearer error="invalid_token", error_description="${auth}"`,
                    'X-Seen': auth,
                }, body, `Unauthorized ${auth}`);
                ctx.done();
            }],
            exit: 3,
        },
        {
            group: 'credentials', verbose, name: 'data-plane 500 quotes the bearer token as plain text',
            promise: 'exit 4; no token the client held is printed',
            data: ['tls', answer(500, (request) => `upstream said no to ${request.headers.authorization}\n`,
                { type: 'text/plain', reason: 'Internal Server Error' })],
            exit: 4,
        },
    ]),

    // -- terminal control sequences --------------------------------------------------------
    ...[false, true].flatMap((verbose) => [
        {
            group: 'control_sequences', verbose, name: 'ESC, OSC and BEL in the reason, a header and a text body',
            // A transport may refuse the header as invalid HTTP (a bad response): exit 4 too.
            promise: 'exit 4; no raw control character reaches stderr',
            data: ['tls', answer(500,
                Buffer.from('\x1b[31mred\x1b]8;;https://evil.example/\x07link\x1b]8;;\x07\r\x1b[K\x08\x00done\n', 'latin1'),
                { type: 'text/plain', headers: { 'X-Evil': '\x1b]0;owned\x07\x1b[2J\x9b31m' }, reason: '\x1b[2JInternal' })],
            exit: 4,
            check: noRawControl,
        },
        {
            group: 'control_sequences', verbose, name: 'JSON-escaped ESC, BEL and C1 CSI in a service error message',
            promise: 'exit 4; no raw control character reaches stderr',
            data: ['tls', answer(500, JSON.stringify({ error_code: 'INTERNAL_ERROR',
                message: '\x1b]0;owned\x07\x1b[2J cleared \u009b31m' }), { reason: 'Internal Server Error' })],
            exit: 4,
            check: noRawControl,
        },
        {
            group: 'control_sequences', verbose, name: 'JSON-escaped control sequences in a token error',
            promise: 'exit 3; no raw control character reaches stderr',
            token: ['tls', answer(401, JSON.stringify({ error: 'invalid_client',
                error_description: '\x1b]0;owned\x07\x1b[1A\x1b[2K' }), { reason: 'Unauthorized' })],
            exit: 3,
            check: noRawControl,
        },
    ]),

    // -- hangs: each bounded by --max-time 2 (the process must end; `hung` is the detector) ---
    {
        group: 'hang', name: 'token endpoint accepts TCP and never speaks TLS', maxTime: 2,
        promise: 'exit 5 (timeout) once --max-time has passed; never a hang',
        token: ['silent'], exit: 5,
    },
    {
        group: 'hang', name: 'token endpoint completes the TLS handshake and never answers', maxTime: 2,
        promise: 'exit 5; never a hang', token: ['tls-silent'], exit: 5,
    },
    {
        group: 'hang', name: 'token endpoint sends its headers and never the body', maxTime: 2,
        promise: 'exit 5; never a hang',
        token: ['tls', stallAfter('HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 200\r\n\r\n{"acc')],
        exit: 5,
    },
    {
        group: 'hang', name: 'data plane accepts TCP and never speaks TLS', maxTime: 2,
        promise: 'exit 5; never a hang', data: ['silent'], exit: 5,
    },
    {
        group: 'hang', name: 'data plane completes the TLS handshake and never answers', maxTime: 2,
        promise: 'exit 5; never a hang', data: ['tls-silent'], exit: 5,
    },
    {
        group: 'hang', name: 'data plane reads the POST, sends its headers and never the body', maxTime: 2,
        promise: 'exit 5, outcome unknown; exactly one POST; never a hang',
        data: ['tls', stallAfter('HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"pre')],
        exit: 5,
        check: exactlyOnePost,
    },
    {
        group: 'hang', name: 'load mode stops at --duration while the token endpoint never speaks', duration: 2,
        promise: 'the process ends after --duration 2 and prints its summary (exit 5); never a hang',
        token: ['silent'], extra: ['--duration', '2', '--concurrency', '2', '--summary', 'json'], exit: 5,
        check: (r, l, fail) => {
            if (!summaryOf(r)) fail(`no JSON summary on stdout: ${r.stdout.toString().slice(0, 200)}`);
        },
    },

    // -- trickle ------------------------------------------------------------------------------
    {
        group: 'trickle', name: 'the whole response a byte at a time, 10 ms apart', maxTime: 30,
        promise: 'exit 0 with the body byte for byte',
        data: ['tls', () => (request, ctx) => {
            const bytes = Buffer.from(`HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: ` +
                                      `${PREDICTIONS.length}\r\n\r\n${PREDICTIONS}`);
            let i = 0;
            ctx.listener.every(10, () => {
                if (ctx.socket.destroyed) return false;
                ctx.socket.write(bytes.subarray(i, i + 1));
                if (++i < bytes.length) return true;
                ctx.done();
                return false;
            });
        }],
        exit: 0,
        check: (r, l, fail) => {
            if (r.stdout.toString() !== PREDICTIONS) fail(`stdout is ${JSON.stringify(r.stdout.toString())}`);
        },
    },
    {
        group: 'trickle', name: 'headers that never end, a byte every 100 ms', maxTime: 2,
        promise: 'exit 5 once --max-time has passed; never a hang',
        data: ['tls', neverEnding('HTTP/1.1 200 OK\r\nX-Slow: ', 'a')],
        exit: 5,
    },
    {
        group: 'trickle', name: 'a body that never ends, a byte every 100 ms', maxTime: 2,
        promise: 'exit 5 once --max-time has passed; never a hang',
        data: ['tls', neverEnding('HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n', ' ')],
        exit: 5,
    },
    {
        group: 'trickle', name: 'a token response body that never ends, a byte every 100 ms', maxTime: 2,
        promise: 'exit 5 once --max-time has passed; never a hang',
        token: ['tls', neverEnding('HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n', ' ')],
        exit: 5,
    },

    // -- no token storm -------------------------------------------------------------------
    {
        group: 'token_storm', name: 'one query against a data plane that answers 401 to everything',
        promise: 'exit 3; at most 2 token requests and 2 POSTs (one retry with a fresh token)',
        data: ['tls', unauthenticated],
        exit: 3,
        check: (r, l, fail) => {
            if (l.token.requests.length > 2) fail(`${l.token.requests.length} token requests, expected at most 2`);
            if (l.data.posts() > 2) fail(`${l.data.posts()} POSTs, expected at most 2`);
        },
    },
    {
        group: 'token_storm', name: 'load mode, 4 workers for 3 s, against a data plane that answers 401 to everything',
        promise: 'exit 3; token requests bounded (at most 20 in 3 s: one per backoff period, not one per query)',
        data: ['tls', unauthenticated],
        extra: LOAD_3S, exit: 3,
        check: (r, l, fail, note) => {
            const n = l.token.requests.length;
            if (n > 20) fail(`${n} token requests in 3 s (${l.data.posts()} POSTs): a token storm`);
            note(`${n} token requests`);
        },
    },
    {
        group: 'token_storm', name: 'load mode, 4 workers for 3 s, against a token endpoint that refuses every request',
        promise: 'exit 3; token requests bounded (at most 20 in 3 s)',
        token: ['tls', answer(400, '{"error":"invalid_client","error_description":"Client authentication failed"}',
            { reason: 'Bad Request' })],
        extra: LOAD_3S, exit: 3,
        check: (r, l, fail, note) => {
            const n = l.token.requests.length;
            if (n > 20) fail(`${n} token requests in 3 s: a token storm`);
            note(`${n} token requests`);
        },
    },

    // -- gzip -------------------------------------------------------------------------------
    {
        group: 'gzip', name: 'a 200 whose body is gzip-encoded although the client never asked for it',
        promise: 'exit 0 with the raw (still compressed) bytes, or exit 4 naming the encoding; never the decompressed text',
        data: ['tls', answer(200, GZIPPED, { headers: { 'Content-Encoding': 'gzip' } })],
        exit: [0, 4],
        check: (r, l, fail) => {
            if (r.stdout.toString('latin1').includes('424242')) fail('stdout holds the decompressed body');
            const asked = l.data.requests.some((q) => /gzip/i.test(q.headers['accept-encoding'] || ''));
            if (asked) fail('the request carried Accept-Encoding: gzip');
            if (r.code === 0 && !r.stdout.equals(GZIPPED)) fail('exit 0 but stdout is not the raw gzip bytes');
            if (r.code === 4 && !/gzip|encod/i.test(r.stderr.toString())) fail('the error does not name the encoding');
        },
    },

    // -- garbage status lines ---------------------------------------------------------------
    ...[
        ['HTTP/0.9 (a body with no status line)', PREDICTIONS],
        ['HTTP/1.1 2x0', `HTTP/1.1 2x0 OK\r\nContent-Type: application/json\r\nContent-Length: ${PREDICTIONS.length}\r\n\r\n${PREDICTIONS}`],
        ['HTTP/7.3 200', `HTTP/7.3 200 OK\r\nContent-Type: application/json\r\nContent-Length: ${PREDICTIONS.length}\r\n\r\n${PREDICTIONS}`],
    ].flatMap(([label, reply]) => [{
        group: 'status_line', name: `data plane answers ${label}`,
        promise: 'exit 4 (a bad response); exactly one POST; never a success',
        data: ['tls', () => (request, ctx) => ctx.socket.end(reply)],
        exit: 4,
        check: exactlyOnePost,
    }, {
        group: 'status_line', name: `token endpoint answers ${label}`,
        promise: 'exit 4 (a bad response, not a URL that cannot be used); no POST to the data plane',
        token: ['tls', () => (request, ctx) => ctx.socket.end(reply)],
        exit: 4,
        check: (r, l, fail) => {
            if (l.data.posts() !== 0) fail(`${l.data.posts()} POSTs arrived at the data plane`);
            if (/cannot be used/.test(r.stderr.toString())) fail('stderr blames the request URL');
        },
    }]),
];

// ---- exit codes that say what happened ---------------------------------------------------
// The workspace listener answers discovery with `discovered(dataPort)` and every other
// request with a token.
const workspaceWithDiscovery = (discovered) => (secrets) => (request, ctx) => {
    if (request.method === 'GET' && request.target.startsWith('/api/2.0/serving-endpoints/')) {
        const body = JSON.stringify(discovered(ctx.listener.dataPort));
        return writeResponse(ctx.socket, 200, { 'Content-Type': 'application/json', 'Content-Length': body.length }, body);
    }
    return issueToken(secrets)(request, ctx);
};
const routeOptimized = (url) => (port) => ({
    name: 'hostile-model', id: ENDPOINT_ID, state: { ready: 'READY' }, route_optimized: true,
    data_plane_info: { query_info: { endpoint_url: url(port) } },
});
const DISCOVERED_PATH = `/${WORKSPACE_ID}/serving-endpoints/hostile-model/invocations`;
const BIG_HEADER = 'x'.repeat(200 * 1024);
// A token response of 8 MB, nearly all of it the access token: a token no request could carry.
const EIGHT_MB_TOKEN = (request, secrets) => JSON.stringify({
    access_token: secrets.issue() + 'A'.repeat(8 * 1024 * 1024), token_type: 'Bearer', expires_in: 3600,
});
function stderrSays(pattern, never) {
    return (r, l, fail) => {
        const text = r.stderr.toString();
        if (!pattern.test(text)) fail(`stderr does not match ${pattern}`);
        if (never && never.test(text)) fail(`stderr matches ${never}`);
    };
}
const NOTHING_WAS_SENT = /nothing was sent/i;

cases.push(
    ...[
        ['is not route optimized', (port) => ({ name: 'hostile-model', id: ENDPOINT_ID, state: { ready: 'READY' },
            route_optimized: false }), /not route optimized/],
        ['gives a plain http:// URL', routeOptimized((port) => `http://${DATA_HOST}:${port}${DISCOVERED_PATH}`), /http/],
        ['gives a URL with user-info', routeOptimized((port) => `https://user@${DATA_HOST}:${port}${DISCOVERED_PATH}`),
            /user-info/],
    ].map(([label, discovered, says]) => ({
        group: 'exit_codes', name: `discovery answers that the endpoint ${label}`,
        promise: 'exit 4 (the answer cannot be used; requests were sent), not exit 2; no POST',
        token: ['tls', workspaceWithDiscovery(discovered)], extra: ['--endpoint', 'hostile-model'],
        exit: 4,
        check: allOf(stderrSays(says, NOTHING_WAS_SENT), (r, l, fail) => {
            if (l.data.posts() !== 0) fail(`${l.data.posts()} POSTs arrived at the data plane`);
        }),
    })),
    {
        group: 'exit_codes', name: 'data plane answers with a 200 KB response header',
        promise: 'exit 4; the error says the response is too large, not "out of memory"',
        data: ['tls', answer(200, PREDICTIONS, { headers: { 'X-Big': BIG_HEADER } })],
        exit: 4,
        check: stderrSays(/too large|larger than/i, /out of memory/i),
    },
    {
        group: 'exit_codes', name: 'token endpoint answers with an 8 MB token response',
        promise: 'exit 4; the error says the response is too large, never "out of memory" or "unexpected"; no POST',
        token: ['tls', answer(200, EIGHT_MB_TOKEN)],
        exit: 4,
        check: allOf(stderrSays(/too large/i, /out of memory|unexpected error/i), (r, l, fail) => {
            if (l.data.posts() !== 0) fail(`${l.data.posts()} POSTs arrived at the data plane`);
        }),
    },
    {
        group: 'exit_codes', name: 'reused keep-alive connection: the second POST is read and never answered',
        promise: 'exit 5; the error does not say no connection could be set up',
        data: ['tls', (secrets) => {
            const first = predict(secrets);
            return (request, ctx) => (ctx.listener.posts() === 1 ? first(request, ctx) : undefined);
        }],
        extra: ['--repeat', '2', '--concurrency', '1', '--summary', 'json'], maxTime: 2,
        exit: 5,
        check: (r, l, fail) => {
            const posts = l.data.requests.filter((q) => q.method === 'POST');
            if (posts.length !== 2 || posts[1].connection !== posts[0].connection)
                fail('the second POST did not come on the first one\'s connection: the case did not exercise reuse');
            if (/could be set up|took longer than .*connect_timeout/i.test(r.stderr.toString()))
                fail('stderr says no connection could be set up');
        },
    },
);

// ---- the runner ---------------------------------------------------------------------------

async function runCase(c, transport) {
    const secrets = new Secrets();
    // Every request a listener reads is seen for the leak check before its handler answers.
    const make = (spec, fallback) => {
        const [kind, factory] = spec || ['tls', fallback];
        const handler = factory ? factory(secrets) : () => {};
        return new HostileListener(kind, certificates, (request, ctx) => {
            secrets.sawRequest(request);
            handler(request, ctx);
        }).listen();
    };
    const token = await make(c.token, issueToken);
    const data = await make(c.data, predict);
    token.dataPort = data.port;  // for a discovery answer naming the data plane
    const listeners = { token, data };
    const extra = [...(c.extra || [])];
    if (c.maxTime) extra.push('--max-time', String(c.maxTime));
    if (c.verbose) extra.push('-v');
    // A case without a deadline of its own takes well under a second here.
    const bound = ((c.maxTime || c.duration || 9) * 1000) + HANG_SLACK_MS;
    const r = await runTool(toolArgs(transport, token, data, extra), bound);
    // Let a connection the tool left behind deliver what it sent before counting.
    await new Promise((resolve) => setTimeout(resolve, 50));

    const problems = [];
    const fail = (text) => problems.push(text);
    if (r.hung) fail(`still running after ${bound / 1000} s: killed (a hang)`);
    else if (r.signal) fail(`killed by ${r.signal}`);
    else {
        const allowed = Array.isArray(c.exit) ? c.exit : [c.exit];
        if (!allowed.includes(r.code)) fail(`exit ${r.code}, expected ${allowed.join(' or ')}`);
    }
    const output = Buffer.concat([r.stdout, r.stderr]).toString('latin1');
    for (const secret of secrets.values) {
        if (secret.length >= 8 && output.includes(secret))
            fail(`a credential is printed: ${secret.slice(0, 4)}... (${secret.length} characters)`);
    }
    const notes = [];
    if (c.check && !r.hung) c.check(r, listeners, fail, (text) => notes.push(text));
    await token.close();
    await data.close();

    const label = `${c.group}: ${c.name}${c.verbose ? ' (-v)' : ''} [${transport}]`;
    const slug = `${c.group}-${cases.indexOf(c)}-${c.verbose ? 'v-' : ''}${transport}`;
    fs.writeFileSync(path.join(work, 'out', `${slug}.out`), r.stdout);
    fs.writeFileSync(path.join(work, 'out', `${slug}.err`), r.stderr);
    if (problems.length === 0) {
        console.log(`ok    ${label} (exit ${r.code}, ${r.seconds.toFixed(1)} s${notes.map((n) => `; ${n}`).join('')})`);
        return true;
    }
    console.log(`FAIL  ${label}\n      promise: ${c.promise}`);
    for (const p of problems) console.log(`      - ${p}`);
    const stderr = r.stderr.toString('utf8').split('\n').filter(Boolean);
    const shown = stderr.slice(0, 3).map((line) => JSON.stringify(line.length > 300 ? line.slice(0, 300) + '...' : line));
    for (const line of shown) console.log(`      stderr: ${line}`);
    console.log(`      (output in ${path.join(work, 'out', slug)}.{out,err}; ${r.seconds.toFixed(1)} s)`);
    return false;
}

const selected = cases.filter((c) => group === 'all' || c.group === group);
if (selected.length === 0) {
    console.error(`no case group '${group}'; groups: ${[...new Set(cases.map((c) => c.group))].join(', ')}`);
    process.exit(2);
}
let failed = 0;
let passed = 0;
for (const c of selected) {
    for (const transport of transports) {
        if (c.only && !c.only.includes(transport)) continue;
        if (await runCase(c, transport)) passed += 1;
        else failed += 1;
    }
}
console.log(`${group}: ${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
