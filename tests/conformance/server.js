// The peer of the transport conformance suite: Node's built-in modules only.
//
//   node server.js CERT_DIR
//
// Listens on loopback (ephemeral ports) and prints one JSON line:
//   {"https_port":N,"h2_port":N,"http_port":N,"proxy_port":N,"silent_port":N,
//    "limit_port":N,"control_port":N,"http_also_on":["127.0.0.2","::1"]}
// then serves until stdin closes or SIGTERM.
//
// https_port picks a certificate by SNI: expired.*, self-signed.*, unknown-ca.* get the
// certificate of that name; every other name gets good.pem (so a name it does not list,
// such as wrong-host.azuredatabricks.net, sees a host name mismatch). h2_port is the same
// with HTTP/2 offered by ALPN (HTTP/1.1 still accepted).
// http_port serves the same routes in plain HTTP, on 127.0.0.1 and on those of 127.0.0.2
// and ::1 the machine has (http_also_on). proxy_port is an HTTP CONNECT proxy that
// sends every tunnel to 127.0.0.1 (the port asked for). silent_port accepts TCP
// connections and never sends a byte. limit_port is https_port again, with its own count
// of open connections (for the per-host connection limit). control_port is plain HTTP
// for the tests themselves (its connections are not counted): /stats, /events, /await.
//
// Routes:
//   /echo                 JSON {method, path, http_version, headers, body} of the request
//   /json                 {"predictions":[1,2,3]}
//   /status/NNN           that status with a Databricks-style error body
//   /stream?chunks=N&delay_ms=D   chunked body "chunk-0\n" ... one write every D ms
//   /large?bytes=N[&chunked=1]    N bytes of a-z repeated (Content-Length unless chunked)
//   /never?id=K           reads the request (event "never:K"), never answers
//   /close-mid            headers promise 1000 bytes, 100 arrive, then the socket dies
//   /close-after?id=K     a normal keep-alive reply, then the server closes the connection
//                         (event "closed:K" once it is closed)
//   /drop-if-reused?id=K  reads the whole request (event "received:K"); on a connection
//                         that served a request before, closes it without answering,
//                         else answers 200
//   /slow?ms=M            answers after M ms
//   /stats                {"connections": TCP connections accepted on https+http,
//                          "requests": requests seen, "proxy_connects": CONNECTs seen,
//                          "limit_open": open connections on limit_port, "limit_peak": most
//                          open at once since the last /limit-reset}
//   /limit-reset          forgets the connections open so far on limit_port
//   /events               {"NAME": times it happened, ...}
//   /await?event=E&count=N  answers once event E happened N times
'use strict';
const fs = require('fs');
const path = require('path');
const http = require('http');
const http2 = require('http2');
const https = require('https');
const net = require('net');
const tls = require('tls');

const certDir = process.argv[2];
if (!certDir) {
  console.error('usage: node server.js CERT_DIR');
  process.exit(2);
}
const read = (name) => fs.readFileSync(path.join(certDir, name));
const context = (name) => tls.createSecureContext({ cert: read(name + '.pem'), key: read(name + '.key') });
const contexts = {
  good: context('good'),
  expired: context('expired'),
  'self-signed': context('self-signed'),
  'unknown-ca': context('unknown-ca'),
};

const stats = { connections: 0, requests: 0, proxy_connects: 0, limit_open: 0, limit_peak: 0 };
const events = {};
let awaiting = [];
function emit(name) {
  events[name] = (events[name] || 0) + 1;
  const still = [];
  for (const w of awaiting) {
    if ((events[w.name] || 0) >= w.count) w.answer(); else still.push(w);
  }
  awaiting = still;
}
// The connection (HTTP/1.1) or session (HTTP/2) a request came on.
const carrier = (req) => (req.httpVersionMajor === 2 ? req.stream.session : req.socket);
let nextConnectionId = 0;
const liveSockets = new Set();
const track = (socket) => {
  liveSockets.add(socket);
  socket.on('close', () => liveSockets.delete(socket));
};

function pattern(bytes) {
  const buffer = Buffer.allocUnsafe(bytes);
  for (let i = 0; i < bytes; ++i) buffer[i] = 97 + (i % 26);
  return buffer;
}

function handle(req, res, counted = true) {
  if (counted) stats.requests++;
  const url = new URL(req.url, 'http://x');
  const owner = carrier(req);
  const servedBefore = owner.servedRequests || 0;
  owner.servedRequests = servedBefore + 1;
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    const body = Buffer.concat(chunks).toString('utf8');
    res.setHeader('x-connection-id', String(req.socket.connectionId ?? -1));
    const route = url.pathname;
    if (route === '/echo') {
      const reply = JSON.stringify({ method: req.method, path: req.url, http_version: req.httpVersion, headers: req.headers, body });
      const headers = { 'content-type': 'application/json', 'x-multi': ['one', 'two'] };
      // HTTP/2 has no reason phrase.
      if (req.httpVersionMajor === 1) res.writeHead(200, 'Echoing', headers); else res.writeHead(200, headers);
      res.end(reply);
    } else if (route === '/json') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{"predictions":[1,2,3]}');
    } else if (route.startsWith('/status/')) {
      const status = Number(route.slice('/status/'.length)) || 500;
      res.writeHead(status, { 'content-type': 'application/json', 'retry-after': '1' });
      res.end(JSON.stringify({ error_code: 'TEST_ERROR', message: 'status ' + status + ' on purpose' }));
    } else if (route === '/stream') {
      const count = Number(url.searchParams.get('chunks') || 3);
      const delay = Number(url.searchParams.get('delay_ms') || 50);
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.flushHeaders();
      let i = 0;
      const tick = () => {
        if (res.destroyed) return;
        if (i === count) return res.end();
        res.write('chunk-' + i++ + '\n');
        setTimeout(tick, delay);
      };
      tick();
    } else if (route === '/large') {
      const bytes = Number(url.searchParams.get('bytes') || 1024);
      const headers = { 'content-type': 'application/octet-stream' };
      if (url.searchParams.get('chunked') !== '1') headers['content-length'] = String(bytes);
      res.writeHead(200, headers);
      res.end(pattern(bytes));
    } else if (route === '/never') {
      // Keep the request open; the client's deadline must end it.
      emit('never:' + (url.searchParams.get('id') || ''));
    } else if (route === '/close-mid') {
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': '1000' });
      res.write(pattern(100));
      setTimeout(() => req.socket.destroy(), 50);
    } else if (route === '/close-after') {
      const id = url.searchParams.get('id') || '';
      const socket = req.socket;
      res.writeHead(200, { 'content-type': 'application/json', connection: 'keep-alive' });
      res.end('{"predictions":[0]}', () => {
        socket.once('close', () => emit('closed:' + id));
        socket.destroy();
      });
    } else if (route === '/drop-if-reused') {
      emit('received:' + (url.searchParams.get('id') || ''));
      if (servedBefore > 0) {
        owner.destroy();
      } else {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end('{"predictions":[1]}');
      }
    } else if (route === '/slow') {
      setTimeout(() => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end('{"predictions":[2]}');
      }, Number(url.searchParams.get('ms') || 100));
    } else if (route === '/stats') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(stats));
    } else if (route === '/limit-reset') {
      limitGeneration++;
      stats.limit_open = 0;
      stats.limit_peak = 0;
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(stats));
    } else if (route === '/events') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(events));
    } else if (route === '/await') {
      const name = url.searchParams.get('event') || '';
      const count = Number(url.searchParams.get('count') || 1);
      const answer = () => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify(events));
      };
      if ((events[name] || 0) >= count) answer(); else awaiting.push({ name, count, answer });
    } else {
      res.writeHead(404, { 'content-type': 'text/plain' });
      res.end('no route ' + route);
    }
  });
}

function countConnections(server, secure) {
  server.on('connection', (socket) => {
    stats.connections++;
    track(socket);
    if (!secure) socket.connectionId = ++nextConnectionId;
  });
  if (secure) server.on('secureConnection', (socket) => { socket.connectionId = ++nextConnectionId; });
  server.keepAliveTimeout = 60000;
}

const tlsOptions = {
  cert: read('good.pem'),
  key: read('good.key'),
  SNICallback: (name, done) => {
    const label = String(name).split('.')[0];
    done(null, contexts[label] || contexts.good);
  },
};
const secureServer = https.createServer(tlsOptions, handle);
countConnections(secureServer, true);
const h2Server = http2.createSecureServer({ ...tlsOptions, allowHTTP1: true }, handle);
countConnections(h2Server, true);

const plainServer = http.createServer(handle);
countConnections(plainServer, false);

const limitServer = https.createServer(tlsOptions, handle);
limitServer.keepAliveTimeout = 60000;
// Connections from before the last /limit-reset are not counted.
let limitGeneration = 0;
limitServer.on('connection', (socket) => {
  track(socket);
  const generation = limitGeneration;
  stats.limit_open++;
  stats.limit_peak = Math.max(stats.limit_peak, stats.limit_open);
  socket.on('close', () => { if (generation === limitGeneration) stats.limit_open--; });
});

const control = http.createServer((req, res) => handle(req, res, false));
control.on('connection', track);

const proxy = http.createServer((req, res) => {
  res.writeHead(405);
  res.end();
});
proxy.on('connect', (req, client, head) => {
  stats.proxy_connects++;
  track(client);
  const port = Number(String(req.url).split(':').pop());
  const upstream = net.connect(port, '127.0.0.1', () => {
    client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
    if (head && head.length) upstream.write(head);
    upstream.pipe(client);
    client.pipe(upstream);
  });
  track(upstream);
  upstream.on('error', () => client.destroy());
  client.on('error', () => upstream.destroy());
});

const silent = net.createServer((socket) => track(socket));

const servers = [secureServer, h2Server, plainServer, proxy, silent, limitServer, control];
// http_port is served on more loopback addresses where the machine has them, so a request
// to another spelling of loopback (127.0.0.2, [::1]) can be seen arriving.
function listenAlso(port, address) {
  return new Promise((resolve) => {
    const extra = http.createServer(handle);
    countConnections(extra, false);
    extra.once('error', () => resolve(null));
    extra.listen(port, address, () => resolve(address));
  });
}

Promise.all(servers.map((s) => new Promise((resolve) => s.listen(0, '127.0.0.1', resolve)))).then(async () => {
  const [httpsPort, h2Port, httpPort, proxyPort, silentPort, limitPort, controlPort] = servers.map((s) => s.address().port);
  const httpAlsoOn = (await Promise.all(['127.0.0.2', '::1'].map((a) => listenAlso(httpPort, a)))).filter((a) => a);
  process.stdout.write(JSON.stringify({
    https_port: httpsPort, h2_port: h2Port, http_port: httpPort, proxy_port: proxyPort, silent_port: silentPort,
    limit_port: limitPort, control_port: controlPort, http_also_on: httpAlsoOn,
  }) + '\n');
});

function stop() {
  for (const socket of liveSockets) socket.destroy();
  process.exit(0);
}
process.stdin.on('end', stop);
process.stdin.on('close', stop);
process.stdin.resume();
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
