// A server that misbehaves on purpose, byte for byte: plain TCP that never speaks, TLS with
// a hand-written HTTP/1.1 reader (so a handler can close after the request, trickle, hang,
// or send a status line no HTTP library would), and HTTP/2 through node:http2. Every
// request is recorded, so a test can count exactly how many POSTs arrived.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import http2 from 'node:http2';
import net from 'node:net';
import path from 'node:path';
import tls from 'node:tls';
import { fileURLToPath } from 'node:url';

// A throw-away CA and one server certificate naming every host the tests use (and
// localhost, 127.0.0.1), made by the script the e2e TLS front uses.
export function makeCertificates(dir, hosts) {
    const script = fileURLToPath(new URL('../e2e/make-certs.sh', import.meta.url));
    execFileSync('bash', [script, dir, ...hosts], { stdio: ['ignore', 'ignore', 'pipe'] });
    return {
        caFile: path.join(dir, 'ca.pem'),
        key: fs.readFileSync(path.join(dir, 'server.key')),
        cert: fs.readFileSync(path.join(dir, 'server.pem')),
    };
}

// One request read off an HTTP/1.1 connection: the head as text, the body as bytes.
function parseHead(text) {
    const lines = text.split('\r\n');
    const [method, target, version] = lines[0].split(' ');
    const headers = {};
    for (const line of lines.slice(1)) {
        const colon = line.indexOf(':');
        if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
    }
    return { method, target, version, headers };
}

// Chunked request bodies: returns [body, bytes consumed] or null while incomplete.
function readChunked(buffer) {
    let offset = 0;
    const parts = [];
    for (;;) {
        const end = buffer.indexOf('\r\n', offset);
        if (end < 0) return null;
        const size = parseInt(buffer.subarray(offset, end).toString('latin1'), 16);
        if (Number.isNaN(size)) return [Buffer.concat(parts), buffer.length];
        if (size === 0) {
            const trailerEnd = buffer.indexOf('\r\n\r\n', end);
            if (trailerEnd < 0 && buffer.length < end + 4) return null;
            return [Buffer.concat(parts), trailerEnd < 0 ? end + 4 : trailerEnd + 4];
        }
        if (buffer.length < end + 2 + size + 2) return null;
        parts.push(buffer.subarray(end + 2, end + 2 + size));
        offset = end + 2 + size + 2;
    }
}

export class HostileListener {
    // kind: 'silent' (TCP, accepts and never speaks), 'tls' (TLS + handler per request),
    // 'tls-silent' (completes the TLS handshake, then never speaks), 'h2' (HTTP/2 streams).
    constructor(kind, certificates, handler) {
        this.kind = kind;
        this.handler = handler;
        this.requests = [];
        // Numbers the connections requests arrive on, counted when a connection is served
        // (after its TLS handshake), so that two handshakes that overlap get two numbers.
        this.connections = 0;
        this.sockets = new Set();
        this.timers = new Set();
        const track = (socket) => {
            this.sockets.add(socket);
            socket.on('close', () => this.sockets.delete(socket));
            socket.on('error', () => {});
        };
        if (kind === 'silent') {
            this.server = net.createServer((socket) => track(socket));
        } else if (kind === 'h2') {
            this.server = http2.createSecureServer({ key: certificates.key, cert: certificates.cert, allowHTTP1: false });
            this.server.on('connection', (socket) => track(socket));
            this.server.on('session', (session) => {
                session.connectionIndex = ++this.connections;
                session.on('error', () => {});
            });
            this.server.on('stream', (stream, headers) => {
                const session = stream.session;
                const chunks = [];
                stream.on('data', (c) => chunks.push(c));
                stream.on('error', () => {});
                stream.on('end', () => {
                    const request = {
                        method: headers[':method'], target: headers[':path'], version: 'HTTP/2',
                        headers, body: Buffer.concat(chunks), connection: session.connectionIndex,
                    };
                    this.requests.push(request);
                    this.handler(request, { stream, session, listener: this });
                });
            });
        } else {
            const options = { key: certificates.key, cert: certificates.cert, ALPNProtocols: ['http/1.1'] };
            this.server = tls.createServer(options, (socket) => {
                if (kind === 'tls-silent') return;
                this.serveHttp1(socket);
            });
            this.server.on('connection', (socket) => track(socket));
            this.server.on('tlsClientError', () => {});
        }
    }

    serveHttp1(socket) {
        const connection = ++this.connections;
        let buffer = Buffer.alloc(0);
        let busy = false;
        const pump = () => {
            if (busy) return;
            const headEnd = buffer.indexOf('\r\n\r\n');
            if (headEnd < 0) return;
            const head = parseHead(buffer.subarray(0, headEnd).toString('latin1'));
            let body;
            let consumed;
            if ((head.headers['transfer-encoding'] || '').toLowerCase().includes('chunked')) {
                const chunked = readChunked(buffer.subarray(headEnd + 4));
                if (!chunked) return;
                [body, consumed] = [chunked[0], headEnd + 4 + chunked[1]];
            } else {
                // A length that is not a number would leave the request unconsumed, to be read
                // (and counted) again: the connection ends there instead.
                const declared = head.headers['content-length'] ?? '0';
                if (!/^\d+$/.test(declared)) {
                    socket.destroy();
                    return;
                }
                const length = Number(declared);
                if (buffer.length < headEnd + 4 + length) return;
                body = buffer.subarray(headEnd + 4, headEnd + 4 + length);
                consumed = headEnd + 4 + length;
            }
            buffer = buffer.subarray(consumed);
            const request = { ...head, body, connection };
            this.requests.push(request);
            busy = true;
            // The handler calls done() when the connection may read the next request.
            this.handler(request, {
                socket, listener: this,
                done: () => { busy = false; setImmediate(pump); },
            });
        };
        socket.on('data', (data) => { buffer = Buffer.concat([buffer, data]); pump(); });
    }

    // A timer that dies with the listener (trickles, delayed closes).
    every(ms, fn) {
        const t = setInterval(() => { if (fn() === false) { clearInterval(t); this.timers.delete(t); } }, ms);
        this.timers.add(t);
        return t;
    }

    async listen() {
        await new Promise((resolve) => this.server.listen(0, '127.0.0.1', resolve));
        this.port = this.server.address().port;
        return this;
    }

    posts() { return this.requests.filter((r) => r.method === 'POST').length; }

    async close() {
        for (const t of this.timers) clearInterval(t);
        this.timers.clear();
        for (const s of this.sockets) s.destroy();
        await new Promise((resolve) => this.server.close(() => resolve()));
    }
}

// An HTTP/1.1 response, written as given: reason, headers and body are not checked.
export function writeResponse(socket, status, headers, body, reason = 'OK') {
    const bytes = Buffer.isBuffer(body) ? body : Buffer.from(body ?? '', 'utf8');
    let head = `HTTP/1.1 ${status} ${reason}\r\n`;
    const all = { 'Content-Length': String(bytes.length), ...headers };
    for (const [name, value] of Object.entries(all)) if (value !== null) head += `${name}: ${value}\r\n`;
    socket.write(Buffer.concat([Buffer.from(head + '\r\n', 'latin1'), bytes]));
}
